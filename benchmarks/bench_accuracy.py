"""Accuracy presets: what ``preset: accurate`` reaches from scratch on the bundled data.

    python benchmarks/bench_accuracy.py                  # all five targets, ~30 min on 2 cores
    python benchmarks/bench_accuracy.py --targets mlp-imdb,mlp-rt
    python benchmarks/bench_accuracy.py --quick          # smoke test, ~1 min, no verdicts

What is measured, per target: ``jaxtext.train(**KEYS[target])`` — the model, the data and
``preset="accurate"``, nothing else (the product path, default views off) — and the metric
on the full test split (IMDB: 5,000 reviews; Rotten Tomatoes: 1,066 sentences; the char LM:
every character of the 5,000 test reviews).

Time is counted as in the other benchmarks: for the classifiers (like ``bench_classify.py``)
``run.timing["total_s"]``: model build, every compile, all training steps, the validation
at each epoch end and the final test evaluation; for the language model (like
``bench_lm.py``) the trainer's own training clock: model build, compiles and every training
step (``first_step_s`` + the steady steps at ``train_examples_per_s``), with the validation
and test evaluations reported beside it. Tokenization is cached on disk after a first run and
is in neither. Each compile cache starts cold (a fresh ``JAXTEXT_COMPILATION_CACHE``).
Targets: ``TARGETS`` (issue 14: 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# a cold compile cache, so compile times are what a first-time user sees
os.environ.setdefault("JAXTEXT_COMPILATION_CACHE", tempfile.mkdtemp(prefix="jaxtext-xla-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from workloads import imdb_subset  # noqa: E402

import jaxtext  # noqa: E402

PRESET = "accurate"
# target -> the keys passed to jaxtext.train (the preset decides everything else)
KEYS = {
    "mlp-imdb": {"model": "mlp", "data": "imdb", "preset": PRESET},
    "mlp-rt": {"model": "mlp", "data": "rotten_tomatoes", "preset": PRESET},
    "lstm-imdb": {"model": "lstm", "data": "imdb", "preset": PRESET},
    "transformer-imdb": {"model": "transformer", "data": "imdb", "preset": PRESET},
    "lm-char": {"model": "transformer", "task": "lm", "tokenizer": "char", "data": "imdb",
                "preset": PRESET, "sample_tokens": 0},
}
# target -> (metric, "min" (at least) or "max" (at most), goal, seconds of training at most)
TARGETS = {
    "mlp-imdb": ("accuracy", "min", 0.91, 120.0),
    "mlp-rt": ("accuracy", "min", 0.77, 120.0),
    "lstm-imdb": ("accuracy", "min", 0.89, 600.0),
    "transformer-imdb": ("accuracy", "min", 0.89, 600.0),
    "lm-char": ("bits_per_char", "max", 2.0, 600.0),
}
# --quick: small data and one short epoch on top of the preset (explicit keys win)
QUICK = {"mlp-imdb": {"epochs": 1}, "mlp-rt": {"epochs": 1, "limit": 640},
         "lstm-imdb": {"epochs": 1}, "transformer-imdb": {"epochs": 1},
         "lm-char": {"epochs": 1, "limit": 100}}


def train_seconds(run, lm: bool) -> tuple[float, float]:
    """(the time the target counts, the evaluations outside it) of a finished run."""
    total = run.timing["total_s"]
    if not lm:
        return total, 0.0
    rate = run.timing["train_examples_per_s"]
    train = run.timing["first_step_s"] + (
        (run.steps - 1) * run.config.batch_size / rate if rate else 0.0)
    return train, total - train


def preset_settings(run) -> dict:
    """The values the run used for the keys its preset sets."""
    keys = jaxtext.presets(run.config.model, run.config.task).get(run.config.preset, {})
    values = run.config.to_dict()
    return {k: values[k] for k in keys}


def bench_target(target: str, quick: bool) -> dict:
    keys = dict(KEYS[target])
    lm = keys.get("task") == "lm"
    if quick:
        keys.update(QUICK[target])
        if keys["data"] == "imdb":
            keys["data"] = imdb_subset("lm" if lm else "classify", 640 if not lm else 200,
                                       256 if not lm else 50)
    shown = {k: v for k, v in keys.items() if k != "data" or isinstance(v, str)}
    print(f"\n== {target}: jaxtext.train({shown}) [load {report.load_average()}]", flush=True)
    metric, direction, goal, budget = TARGETS[target]
    t0 = time.perf_counter()
    run = jaxtext.train(callbacks=[], **keys)
    wall = time.perf_counter() - t0
    value = float(run.test_metrics[metric])
    seconds, evals = train_seconds(run, lm)
    met = value >= goal if direction == "min" else value <= goal
    data = KEYS[target]["data"] + (" (quick subset)" if quick else "")
    row = {"target": target, "model": run.config.model, "data": data,
           "preset": run.config.preset, "settings": preset_settings(run), "metric": metric,
           "value": value, "train_s": seconds, "eval_s": evals, "wall_s": wall,
           "first_step_s": run.timing["first_step_s"], "steps": run.steps,
           "epochs": run.config.epochs, "params": run.num_params, "status": run.status,
           "goal": f"{metric} {'>=' if direction == 'min' else '<='} {goal} in <= "
                   f"{budget / 60:g} min",
           "pass": None if quick else bool(met and seconds <= budget)}
    verdict = "n/a (quick)" if row["pass"] is None else "PASS" if row["pass"] else "FAIL"
    print(f"   test {metric} {value:.4f}, {seconds:.1f} s counted (+ {evals:.1f} s evaluation; "
          f"wall {wall:.1f} s), {run.steps} steps -> {verdict} [{row['goal']}]", flush=True)
    return row


def markdown(rows: list[dict], start: dict, end: dict) -> str:
    table_rows = [{**r, "settings": ", ".join(f"{k}={v}" for k, v in r["settings"].items()),
                   "verdict": "n/a" if r["pass"] is None else "PASS" if r["pass"] else "FAIL"}
                  for r in rows]
    out = ["# Accuracy presets benchmark (`preset: accurate`)", "", "```",
           report.command_line(), "```", "", report.facts_block(start, end), "",
           "## Test metric and training time per target", "",
           report.table(table_rows, [
               ("target", "target"), ("model", "model"), ("data", "data"),
               ("metric", "metric"), ("value", "test value"), ("train_s", "time counted s"),
               ("eval_s", "evaluation s (not counted)"), ("wall_s", "wall s"),
               ("first_step_s", "first step s"), ("steps", "steps"), ("params", "params"),
               ("goal", "target"), ("verdict", "result")]),
           "", "## The preset's keys, with the values the run used", "",
           report.table(table_rows, [("target", "target"), ("settings", "settings")]),
           "", "## What is measured", "", (__doc__ or "").split("What is measured, per target:")[
               -1].strip(), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--quick", action="store_true",
                   help="smoke test: small data, one epoch, no verdicts")
    p.add_argument("--out", default="benchmarks/results/accuracy.md")
    args = p.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    start = report.machine_facts("jax", "jaxlib", "flax", "optax")
    print(f"{start['cpu']}, {start['cores']} cores, load {start['load_average']}", flush=True)
    rows = [bench_target(t, args.quick) for t in targets]
    end = report.machine_facts("jax", "jaxlib", "flax", "optax")
    report.write(args.out, markdown(rows, start, end),
                 {"command": report.command_line(), "machine_start": start,
                  "machine_end": end, "targets": TARGETS, "keys": KEYS, "rows": rows})
    failed = [r["target"] for r in rows if r["pass"] is False]
    print("\nRESULT:", "PASS" if not failed else f"FAIL ({', '.join(failed)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
