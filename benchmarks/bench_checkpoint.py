"""What durability costs: checkpoints while training, and saving / loading a run.

    python benchmarks/bench_checkpoint.py            # default transformer on IMDB, ~25 min
    python benchmarks/bench_checkpoint.py --quick    # smoke test, ~1 min, no target

What is measured:
1. Training cost of checkpoints. The same ``jaxtext.train`` call (the default transformer on
   IMDB at its defaults: 2 epochs, 563 steps, unless ``--steps`` cuts it) with no checkpoints and with ``checkpoint_every``
   of 500 and of 100 steps, in interleaved rounds (order rotating) after a warm-up that compiles
   every shape. Time = the run's own ``total_s`` (build, compiles, steps, validation, test).
   Cost = median over rounds of (with / without) - 1. Target: <= 3 % at every 500 steps.
   The checkpoint is written by a background thread (a device copy is handed over and the
   loop goes on); the time the loop waited on a previous write is included.
2. ``run.save(folder)`` (atomic: temporary folder, fsync, one rename) and ``jaxtext.load``:
   median of ``--rounds`` repeats, over an existing run folder (the exchange path).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from workloads import StopAfter, imdb_subset  # noqa: E402

import jaxtext  # noqa: E402

TARGET = 0.03
BASE = {"model": "transformer", "data": "imdb"}
INTERVALS = (0, 500, 100)


def timed_run(settings: dict, every: int, steps: int, folder: Path) -> dict:
    out = folder / f"every-{every}"
    shutil.rmtree(out, ignore_errors=True)
    keys = {**settings, "out": str(out), "checkpoint_every": every} if every else settings
    callbacks = [StopAfter(steps)] if steps else []
    run = jaxtext.train(keys, callbacks=callbacks)
    written = len(list((out / "checkpoints").glob("step-*"))) if every else 0
    return {"every": every, "seconds": run.timing["total_s"], "steps": run.steps,
            "kept": written}


def save_load(run, folder: Path, rounds: int) -> dict:
    target = folder / "saved"
    run.save(target)  # the timed saves replace an existing run (the exchange path)
    saves, loads = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        run.save(target)
        saves.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        jaxtext.load(target)
        loads.append(time.perf_counter() - t0)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return {"save_s": statistics.median(saves), "load_s": statistics.median(loads),
            "megabytes": size / 1e6, "params": run.num_params}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, no target")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="stop each run after N steps")
    parser.add_argument("--out", default="benchmarks/results/checkpoint.md")
    args = parser.parse_args(argv)

    settings = dict(BASE)
    intervals = INTERVALS
    if args.quick:
        settings.update(data=imdb_subset("classify", 1500, 200), epochs=1)
        intervals = (0, 10)
        args.rounds = min(args.rounds, 2)
    start = report.machine_facts("jax", "jaxlib", "flax")
    folder = Path(tempfile.mkdtemp(prefix="jaxtext-bench-checkpoint-"))
    try:
        print("warm-up (compiles every shape)", flush=True)
        timed_run(settings, intervals[-1], args.steps, folder)
        rounds = []
        for r in range(args.rounds):
            order = intervals[r % len(intervals):] + intervals[:r % len(intervals)]
            row = {every: timed_run(settings, every, args.steps, folder) for every in order}
            rounds.append(row)
            print(f"round {r + 1}: " + ", ".join(
                f"every {e or 'never'}: {row[e]['seconds']:.1f} s" for e in intervals),
                flush=True)
        base = [r[0]["seconds"] for r in rounds]
        table = []
        for every in intervals:
            seconds = [r[every]["seconds"] for r in rounds]
            cost = statistics.median(r[every]["seconds"] / r[0]["seconds"] - 1 for r in rounds)
            table.append({"every": every or "never", "seconds": statistics.median(seconds),
                          "steps": rounds[-1][every]["steps"], "kept": rounds[-1][every]["kept"],
                          "cost": f"{100 * cost:+.1f} %" if every else "–"})
        run = jaxtext.train(settings, callbacks=[StopAfter(args.steps)] if args.steps else [])
        files = save_load(run, folder, max(3, args.rounds))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    end = report.machine_facts("jax", "jaxlib", "flax")

    cost_500 = statistics.median(r[intervals[1]]["seconds"] / r[0]["seconds"] - 1
                                 for r in rounds)
    passed = args.quick or cost_500 <= TARGET
    markdown = "\n\n".join([
        "# Checkpoint cost and save / load time",
        f"Command: `{report.command_line()}`",
        report.facts_block(start, end),
        f"Training: {'the --quick subset' if args.quick else 'IMDB, the default transformer'}"
        f", {rounds[-1][0]['steps']} steps; median of {args.rounds} interleaved rounds "
        f"(no checkpoints: {statistics.median(base):.1f} s).",
        report.table(table, [("every", "checkpoint every (steps)"), ("seconds", "time (s)"),
                             ("steps", "steps"), ("kept", "step checkpoints kept"),
                             ("cost", "cost")]),
        report.table([files], [("params", "parameters"), ("megabytes", "run folder (MB)"),
                               ("save_s", "save (s)"), ("load_s", "load (s)")]),
        f"Target: checkpointing every {intervals[1]} steps costs <= {TARGET:.0%} of training "
        f"time: {100 * cost_500:+.1f} % " + ("(smoke run, no target)" if args.quick
                                              else "✓" if passed else "✗"),
    ]) + "\n"
    report.write(args.out, markdown, {"start": start, "end": end, "rounds": rounds,
                                      "table": table, "files": files})
    print(markdown)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
