"""What training configurations together buys: 8 configurations in one vmapped sweep against the
same 8 trained one after another.

    python benchmarks/bench_sweep.py              # the default mlp on IMDB, 8 configs, ~10 min
    python benchmarks/bench_sweep.py --quick      # smoke test on a small IMDB subset, ~2 min

What is measured: the default mlp (``model: mlp``, its own defaults: max_len 1024, lr 2e-2) on
IMDB, a grid of 4 learning rates x 2 seeds. Both ways train the same ``--steps`` steps per
configuration on the same batches (a timing window: each stops after that many steps, so neither
spends time on validation or test). Throughput = configuration-examples per second of steady
training (compiles excluded, as in the runs' own ``train_examples_per_s``): for the sweep,
8 x its examples / its training seconds; one after another, all examples / the sum of the
runs' training seconds. Target: the sweep >= 2x. Wall-clock totals (data, compiles, steps) are
reported too: one after another compiles each learning rate's step again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from workloads import StopAfter, imdb_subset  # noqa: E402

import jaxtext  # noqa: E402

TARGET = 2.0
GRID = {"lr": [5e-3, 1e-2, 2e-2, 4e-2], "seed": [0, 1]}


def one_after_another(base: dict, steps: int) -> dict:
    examples = train_s = 0.0
    started = time.perf_counter()
    for lr in GRID["lr"]:
        for seed in GRID["seed"]:
            run = jaxtext.train({**base, "lr": lr, "seed": seed}, callbacks=[StopAfter(steps)])
            rate = run.timing["train_examples_per_s"]
            seen = run.record.last_log.examples_seen
            examples += seen
            train_s += seen / rate if rate else 0.0
    return {"way": "one after another", "configs": 8, "examples": int(examples),
            "train_s": train_s, "examples_per_s": examples / train_s,
            "wall_s": time.perf_counter() - started}


def together(base: dict, steps: int) -> dict:
    started = time.perf_counter()
    result = jaxtext.sweep(base, callbacks=[StopAfter(steps)], **GRID)
    runs = result.runs
    rate = runs[0].timing["train_examples_per_s"]  # one loop: the same for every run
    seen = runs[0].record.last_log.examples_seen
    return {"way": "together (one vmapped sweep)", "configs": len(runs),
            "examples": seen * len(runs), "train_s": seen / rate,
            "examples_per_s": rate * len(runs), "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="steps per configuration")
    parser.add_argument("--quick", action="store_true", help="a small IMDB subset, 40 steps")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sweep.md"))
    args = parser.parse_args()
    base = {"model": "mlp", "data": "imdb", "log_every": 10}
    steps = args.steps
    if args.quick:
        base["data"], steps = imdb_subset("classify", 4000, 500), min(steps, 40)
    start = report.machine_facts("jax", "jaxlib", "flax", "optax")
    jaxtext.train({**base, "epochs": 1}, callbacks=[StopAfter(2)])  # data cached, JAX warm
    rows = [together(base, steps), one_after_another(base, steps)]
    end = report.machine_facts("jax", "jaxlib", "flax", "optax")
    ratio = rows[0]["examples_per_s"] / rows[1]["examples_per_s"]
    wall = rows[1]["wall_s"] / rows[0]["wall_s"]
    verdict = "✓" if ratio >= TARGET else "✗"
    markdown = "\n\n".join([
        "# Sweeps: 8 configurations together vs one after another",
        f"Command: `{report.command_line()}`",
        report.facts_block(start, end),
        "**Noisy**: measured on a shared 2-core CPU with other jobs running (see the load "
        "average); re-run on a quiet machine before quoting.",
        f"The default mlp on {'an IMDB subset' if args.quick else 'IMDB'}, grid "
        f"lr {GRID['lr']} x seed {GRID['seed']}, {steps} steps per configuration on the same "
        "batches. Throughput: configuration-examples per second of steady training.",
        report.table(rows, [("way", "way"), ("configs", "configs"), ("examples", "examples"),
                            ("train_s", "training (s)"), ("examples_per_s", "examples/s"),
                            ("wall_s", "wall clock (s)")]),
        f"Target: together >= {TARGET:g}x the throughput of one after another: "
        f"{ratio:.2f}x {verdict} (wall clock, compiles and data included: {wall:.2f}x)",
    ]) + "\n"
    report.write(args.out, markdown, {"rows": rows, "ratio": ratio, "wall_ratio": wall,
                                      "steps": steps, "start": start, "end": end,
                                      "quick": args.quick})
    print(markdown)


if __name__ == "__main__":
    main()
