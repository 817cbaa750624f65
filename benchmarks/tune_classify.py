"""One IMDB classification experiment through ``jaxtext.train``, appended to a JSON-lines log.

    python benchmarks/tune_classify.py lstm truncate=head_tail max_len=512 epochs=1
    python benchmarks/tune_classify.py --log /tmp/tune.jsonl transformer epochs=3 lr=1e-3

Used to search settings for issue 14 (lstm and transformer >= 0.89 test accuracy within 10
minutes of training on 2 quiet cores). Test accuracy is on the full 5,000-review test split,
as in ``bench_classify.py``. On a shared machine the wall time is inflated, so each record
also has a *quiet estimate*: the examples trained times their multiply-adds (``step_cost``:
per token, the LSTM cell's or a transformer block's projections plus attention over the
row), over the quiet rate of the same model at its defaults (``QUIET_EX_PER_S``, from
benchmarks/results/classify.md) times the defaults' multiply-adds per example (the same
train rows cut at 256). A guide to pick settings, not a measurement; re-run quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import report  # noqa: E402

import jaxtext  # noqa: E402

# quiet rates at the defaults (max_len 256) from classify.md, whole runs (compiles and
# evaluation included), and the default sizes they were measured with
QUIET_EX_PER_S = {"lstm": 191.5, "transformer": 220.1}
DEFAULT_SIZES = {"lstm": {"dim": 128, "hidden": 64, "layers": 1, "bidirectional": True},
                 "transformer": {"dim": 64, "layers": 1, "mlp_ratio": 2.0}}


def step_cost(model: str, sizes: dict, lengths: np.ndarray) -> float:
    """Multiply-adds per example (forward) of rows of ``lengths`` tokens, up to a constant."""
    tokens = lengths.astype(np.float64)
    if model == "lstm":
        directions = 2 if sizes["bidirectional"] else 1
        h, d = sizes["hidden"], sizes["dim"]
        per_token = directions * 4 * h * (d + h + (sizes["layers"] - 1) * (directions * h + h))
        return float(per_token * tokens.mean())
    d = sizes["dim"]
    dense = (4 + 2 * sizes["mlp_ratio"]) * d * d  # q, k, v, out and the MLP
    return float(sizes["layers"] * (dense * tokens + 2 * d * tokens * tokens).mean())


def quiet_estimate(model: str, sizes: dict, lengths: np.ndarray, examples: int) -> float:
    """Seconds these examples would take on the quiet 2 cores of classify.md (a guide)."""
    reference = step_cost(model, DEFAULT_SIZES[model], np.minimum(lengths, 256))
    return examples * step_cost(model, sizes, lengths) / (QUIET_EX_PER_S[model] * reference)


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("keys", nargs="*", help="key=value settings passed to jaxtext.train")
    parser.add_argument("--log", default="benchmarks/results/tune_classify.jsonl")
    args = parser.parse_args()
    keys = dict(k.split("=", 1) for k in args.keys)
    keys = {k: parse_value(v) for k, v in keys.items()}
    load_start = report.load_average()
    t0 = time.perf_counter()
    run = jaxtext.train(model=args.model, data="imdb", **keys)
    wall = time.perf_counter() - t0
    train = run.trained.data.encoded["train"]
    tokens_per_example = float(train.lengths.mean())
    examples = run.steps * run.config.batch_size
    frame = run.history
    validation = frame[frame["kind"] == "validation"].dropna(axis=1, how="all")
    record = {
        "model": args.model, "keys": keys, "steps": run.steps, "examples": examples,
        "test_accuracy": round(run.test_metrics["accuracy"], 4),
        "train_s": round(run.timing["total_s"], 1), "wall_s": round(wall, 1),
        "ex_per_s": round(run.timing["train_examples_per_s"], 1),
        "tokens_per_example": round(tokens_per_example, 1),
        "quiet_estimate_s": round(quiet_estimate(
            args.model, vars(run.config.model_args), train.lengths, examples), 1),
        "load_start": load_start, "load_end": report.load_average(),
        "validation": json.loads(validation.round(4).to_json(orient="records")), "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    print(json.dumps(record), flush=True)
    with open(args.log, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
