"""What training configurations together buys: 8 configurations in one vmapped sweep against the
same 8 trained one after another.

    python benchmarks/bench_sweep.py              # the default mlp on IMDB, 8 configs, ~10 min
    python benchmarks/bench_sweep.py --quick      # smoke test on a small IMDB subset, ~2 min

What is measured: the default mlp (``model: mlp``, its own defaults: max_len 1024, lr 2e-2) on
IMDB, a grid of 4 learning rates x 2 seeds, one epoch of ``--steps`` steps (``limit`` =
steps x batch size training examples; validation and test on ``eval_limit`` 500 examples), both
ways doing the same work. Throughput = configuration-examples per second of steady training
(compiles excluded, as in the runs' own ``train_examples_per_s``): for the sweep, 8 x its
examples / its training seconds; one after another, all examples / the sum of the runs'
training seconds. Target: the sweep >= 2x. Wall-clock totals (data, compiles, steps,
evaluation) are reported too: one after another compiles each learning rate's step again.
A second workload, small steps (max_len 64, batch 16), shows the case vmapping is made for: a
step too small to keep the device busy, where one dispatch for 8 configurations saves 7.
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


def one_after_another(base: dict, workload: str) -> dict:
    examples = train_s = steps = 0.0
    started = time.perf_counter()
    for lr in GRID["lr"]:
        for seed in GRID["seed"]:
            run = jaxtext.train({**base, "lr": lr, "seed": seed}, callbacks=[])
            rate = run.timing["train_examples_per_s"]
            seen = run.record.last_log.examples_seen
            examples, steps = examples + seen, steps + run.steps
            train_s += seen / rate if rate else 0.0
    return {"workload": workload, "way": "one after another", "configs": 8,
            "steps": int(steps), "examples": int(examples), "train_s": train_s,
            "examples_per_s": examples / train_s, "wall_s": time.perf_counter() - started}


def together(base: dict, workload: str) -> dict:
    started = time.perf_counter()
    result = jaxtext.sweep(base, callbacks=[], **GRID)
    runs = result.runs
    rate = runs[0].timing["train_examples_per_s"]  # one loop: the same for every run
    seen = runs[0].record.last_log.examples_seen
    return {"workload": workload, "way": "together (one vmapped sweep)",
            "configs": len(runs), "steps": sum(r.steps for r in runs),
            "examples": seen * len(runs), "train_s": seen / rate,
            "examples_per_s": rate * len(runs), "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="steps per configuration")
    parser.add_argument("--quick", action="store_true", help="an IMDB subset, at most 40 steps")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sweep.md"))
    args = parser.parse_args()
    steps = min(args.steps, 40) if args.quick else args.steps
    data = imdb_subset("classify", 4000, 500) if args.quick else "imdb"
    base = {"model": "mlp", "data": data, "epochs": 1, "limit": steps * 64, "eval_limit": 500}
    small = {**base, "max_len": 64, "batch_size": 16, "limit": steps * 16}
    start = report.machine_facts("jax", "jaxlib", "flax", "optax")
    jaxtext.train(base, callbacks=[StopAfter(2)])  # the data cached, JAX loaded
    rows = [together(base, "default mlp"), one_after_another(base, "default mlp"),
            together(small, "small steps"), one_after_another(small, "small steps")]
    end = report.machine_facts("jax", "jaxlib", "flax", "optax")
    ratio = rows[0]["examples_per_s"] / rows[1]["examples_per_s"]
    wall = rows[1]["wall_s"] / rows[0]["wall_s"]
    small_ratio = rows[2]["examples_per_s"] / rows[3]["examples_per_s"]
    small_wall = rows[3]["wall_s"] / rows[2]["wall_s"]
    verdict = "✓" if ratio >= TARGET else "✗"
    markdown = "\n\n".join([
        "# Sweeps: 8 configurations together vs one after another",
        f"Command: `{report.command_line()}`",
        report.facts_block(start, end),
        "The load average above says how busy the machine was: above 2 (its cores), the "
        "numbers are slower than it can do.",
        f"The mlp on {'an IMDB subset' if args.quick else 'IMDB'}, grid "
        f"lr {GRID['lr']} x seed {GRID['seed']}, one epoch of about {steps} steps per "
        "configuration; the default mlp (max_len 1024, batch 64) and small steps (max_len 64, "
        "batch 16). Throughput: configuration-examples per second of steady training.",
        report.table(rows, [("workload", "workload"), ("way", "way"), ("steps", "steps"),
                            ("examples", "examples"), ("train_s", "training (s)"),
                            ("examples_per_s", "examples/s"), ("wall_s", "wall clock (s)")]),
        f"Target: together >= {TARGET:g}x the throughput of one after another (default mlp): "
        f"{ratio:.2f}x {verdict} (wall clock, compiles, data and evaluation included: "
        f"{wall:.2f}x). Small steps: {small_ratio:.2f}x (wall clock {small_wall:.2f}x).",
    ]) + "\n"
    report.write(args.out, markdown, {"rows": rows, "ratio": ratio, "wall_ratio": wall,
                                      "small_ratio": small_ratio, "small_wall_ratio": small_wall,
                                      "steps": steps, "start": start, "end": end,
                                      "quick": args.quick})
    print(markdown)


if __name__ == "__main__":
    main()
