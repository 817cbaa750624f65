"""jaxtext against Keras 3 (JAX backend) and PyTorch (eager), the same models side by side.

    python benchmarks/bench_frameworks.py                 # ~15 min on 2 cores
    python benchmarks/bench_frameworks.py --quick         # smoke test, ~3 min
    python benchmarks/bench_frameworks.py --configs bag,lstm --rounds 5

Needs the ``bench`` extra (``pip install -e .[bench]``: Keras 3 and PyTorch).

Each configuration is the SAME architecture, sizes, data, batch and optimizer in every
framework: IMDB word tokens (jaxtext's tokenizer, vocabulary 20,000, 256 tokens at most),
batch 64, jaxtext's optimizer (AdamW, global-norm clipping 1.0, warmup then cosine decay).
The Keras and PyTorch twins (``keras_models.py``, ``torch_models.py``) are what a user of
those libraries writes: ids padded to 256, their stock layers. jaxtext runs as a user runs it,
``jaxtext.train`` with its length buckets (it pays for fewer padding tokens; the tokens per
example each framework computes are in the table).

Measured in one process, interleaved: ``--rounds`` rounds, each timing ``--steps`` training
steps of every framework in turn (the order rotates each round). Steady examples/s leave out
the first step of each window (jaxtext: ``train_examples_per_s``, after a warm-up window
compiled every shape the rounds see; Keras: ``model.fit`` after its tracing; PyTorch: eager
steps). "jaxtext / best" is, for the fastest alternative, the median over rounds of
jaxtext's rate divided by that framework's rate in the same round: the load of a shared
machine drifts between rounds, much less within one. Time to first step: building the model
and running one training step from a cold start (jaxtext: a fresh compilation cache; its
``first_step_s``, data already tokenized; Keras: build, compile, one ``train_on_batch``;
PyTorch: build, one step), after a warm-up run of a tiny jaxtext model has tokenized the data
and started JAX. PyTorch uses ``torch.get_num_threads()`` threads (all cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_classify  # noqa: E402  (sets KERAS_BACKEND and a cold compilation cache first)
import numpy as np  # noqa: E402
import report  # noqa: E402
from workloads import StopAfter, imdb_subset  # noqa: E402

COMMON = {"vocab_size": 20_000, "max_len": 256, "batch_size": 64, "seed": 0}
# The configurations of issue 12 (the same in every framework), then jaxtext's defaults.
CONFIGS = {
    "bag": {"model": "mlp", "dim": 64, "ngrams": 1, "layers": 1, "hidden": 64, "dropout": 0.0},
    "lstm": {"model": "lstm", "dim": 128, "hidden": 128, "layers": 1, "bidirectional": False,
             "pooling": "mean"},
    "transformer": {"model": "transformer", "dim": 128, "heads": 4, "layers": 2,
                    "mlp_ratio": 2.0, "pooling": "mean"},
    "mlp (defaults)": {"model": "mlp"},
    "lstm (defaults)": {"model": "lstm"},
    "transformer (defaults)": {"model": "transformer"},
}
STEPS = {"mlp": 250, "lstm": 20, "transformer": 10}  # per window (mlp: <= 18,000 reviews)
FRAMEWORKS = ("jaxtext", "keras", "pytorch")


def describe(keys: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in keys.items() if k != "model") or "(defaults)"


def torch_first_step(model: str, run, x, y, total_steps: int):
    import torch_models

    cfg, batch = run.config, run.config.batch_size
    t0 = time.perf_counter()
    trainer = torch_models.Trainer(model, cfg, run.dims.vocab_size, len(run.label_names),
                                   total_steps, seed=cfg.seed)
    float(trainer.step(x[:batch], y[:batch]))
    return trainer, time.perf_counter() - t0


def torch_rate(trainer, x, y, batch: int, steps: int, seed: int) -> float:
    rows = np.random.default_rng(seed).choice(len(x), steps * batch, replace=False)
    float(trainer.step(x[rows[:batch]], y[rows[:batch]]))
    start = time.perf_counter()
    for i in range(1, steps):
        loss = trainer.step(x[rows[i * batch:(i + 1) * batch]], y[rows[i * batch:(i + 1) * batch]])
    float(loss)
    return (steps - 1) * batch / (time.perf_counter() - start)


def bench_config(label: str, keys: dict, args, data) -> dict:
    import torch

    model = keys["model"]
    settings = {"data": data, **COMMON, **{k: v for k, v in keys.items() if k != "model"},
                **({"epochs": 1} if args.quick else {})}
    steps = args.steps or STEPS[model]
    print(f"\n== {label}: {describe(keys)} [load {report.load_average()}]", flush=True)
    # warm-up window: compiles every shape the timed windows (same seed, same batches) see
    run, _ = bench_classify.train_jaxtext(model, settings, [StopAfter(steps)])
    first = {"jaxtext": run.timing["first_step_s"]}
    x, y = bench_classify.keras_data(model, run, "train")
    total = -(-len(y) // run.config.batch_size) * run.config.epochs
    keras_net, first["keras"] = bench_classify.keras_first_step(model, run, x, y, total)
    bench_classify.keras_rate(keras_net, x, y, run.config.batch_size, 3, seed=99)
    torch_trainer, first["pytorch"] = torch_first_step(model, run, x, y, total)
    rates = {fw: [] for fw in FRAMEWORKS}
    for r in range(args.rounds):
        order = FRAMEWORKS[r % 3:] + FRAMEWORKS[:r % 3]
        for fw in order:
            if fw == "jaxtext":
                rates[fw].append(bench_classify.jaxtext_rate(model, settings, steps))
            elif fw == "keras":
                rates[fw].append(bench_classify.keras_rate(keras_net, x, y, run.config.batch_size,
                                                           steps, seed=r))
            else:
                rates[fw].append(torch_rate(torch_trainer, x, y, run.config.batch_size, steps,
                                            seed=r))
        print(f"   round {r + 1}: " + ", ".join(f"{fw} {rates[fw][-1]:,.1f}" for fw in FRAMEWORKS)
              + f" ex/s [load {report.load_average()}]", flush=True)
    median = {fw: statistics.median(v) for fw, v in rates.items()}
    best = max(("keras", "pytorch"), key=median.get)
    ratio = statistics.median(j / o for j, o in zip(rates["jaxtext"], rates[best], strict=True))
    row = {"config": label, "settings": describe(keys), "steps": steps,
           "params": {"jaxtext": run.num_params, "keras": int(keras_net.count_params()),
                      "pytorch": torch_trainer.params()},
           "tokens_per_example": {"jaxtext": bench_classify.tokens_per_example(run),
                                  "keras": x.shape[1], "pytorch": x.shape[1]},
           "examples_per_s": median, "rounds": rates, "first_step_s": first,
           "best_other": best, "ratio": ratio, "torch_threads": torch.get_num_threads()}
    print(f"   jaxtext / {best}: {ratio:.2f}; first step " + ", ".join(
        f"{fw} {s:.1f} s" for fw, s in first.items()), flush=True)
    return row


def markdown(rows: list[dict], args, start: dict, end: dict) -> str:
    def rate(row, fw):
        value = f"{row['examples_per_s'][fw]:,.0f}"
        return f"**{value}**" if fw == max(FRAMEWORKS, key=row["examples_per_s"].get) else value

    table = [{"config": r["config"], "settings": r["settings"],
              **{fw: rate(r, fw) for fw in FRAMEWORKS},
              "ratio": f"{r['ratio']:.2f} ({r['best_other']})",
              "first": " / ".join(f"{r['first_step_s'][fw]:.1f}" for fw in FRAMEWORKS),
              "tokens": f"{r['tokens_per_example']['jaxtext']:.0f} / 256"} for r in rows]
    return "\n".join([
        "# jaxtext, Keras 3 (JAX) and PyTorch (eager): the same models side by side", "",
        "```", report.command_line(), "```", "", report.facts_block(start, end),
        f"- PyTorch threads: {rows[0]['torch_threads'] if rows else '?'}", "",
        f"Steady training examples/s, median of {args.rounds} interleaved rounds (fastest in "
        "bold); jaxtext / best = median over rounds of jaxtext's rate over the fastest "
        "alternative's in the same round.", "",
        report.table(table, [("config", "configuration"), ("settings", "sizes"),
                             ("jaxtext", "jaxtext"), ("keras", "Keras 3 (JAX)"),
                             ("pytorch", "PyTorch eager"), ("ratio", "jaxtext / best"),
                             ("first", "first step s (jaxtext / Keras / PyTorch)"),
                             ("tokens", "tokens per example (jaxtext / others)")]),
        "", "Rounds (ex/s): " + "; ".join(
            f"{r['config']}: " + ", ".join(f"{fw} {[round(v, 1) for v in r['rounds'][fw]]}"
                                            for fw in FRAMEWORKS) for r in rows),
        "", "## What is measured", "", (__doc__ or "").split("\n\n", 2)[-1].strip(), ""])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help="comma-separated, from: " + ", ".join(CONFIGS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=0, help="steps per window (default: STEPS)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 640 training reviews, 5-step windows, one round")
    p.add_argument("--out", default="benchmarks/results/frameworks.md")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 1, 5
    labels = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in labels if c not in CONFIGS]
    if unknown:
        p.error(f"unknown configurations {unknown}; choose from {', '.join(CONFIGS)}")
    try:
        import keras  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        p.error(f"{e.name} is missing: pip install -e '.[bench]'")
    start = report.machine_facts("jax", "jaxlib", "flax", "optax", "keras", "torch")
    data = imdb_subset("classify", 640, 256) if args.quick else "imdb"
    # tokenizes the data (cached on disk) and starts JAX's backend once, so the first
    # configuration's first step does not pay for them (Keras's and PyTorch's never did); a
    # tiny mlp shares no compiled function with the configurations measured
    bench_classify.train_jaxtext("mlp", {"data": data, **COMMON, "dim": 8, "hidden": 8},
                                 [StopAfter(1)])
    rows = [bench_config(label, CONFIGS[label], args, data) for label in labels]
    end = report.machine_facts("jax", "jaxlib", "flax", "optax", "keras", "torch")
    report.write(args.out, markdown(rows, args, start, end),
                 {"command": report.command_line(), "machine_start": start, "machine_end": end,
                  "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
