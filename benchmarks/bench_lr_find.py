"""What the LR finder costs: a sweep of N steps against N ordinary training steps.

    python benchmarks/bench_lr_find.py             # mlp, lstm, transformer on IMDB, ~10 min
    python benchmarks/bench_lr_find.py --quick     # a small IMDB subset, mlp and lstm, ~2 min

What is measured, per model at its defaults (batch 64 unless the model says otherwise):

1. ``jaxtext.lr_find(..., steps=N)`` over a range too low to diverge (1e-8 -> 1e-5), so all N
   steps run. Its step time is the sweep's own wall clock after the first step (which carries
   the compile), over the N - 1 steps that follow: ``timing["steps_s"] / (steps_run - 1)``.
   The compile is reported apart (``timing["compile_s"]``).
2. ``jaxtext.train`` stopped after N steps, views off. Its step time is the wall clock from
   its second finished step to its N-th (``StepClock``: in the timed rounds every shape is
   already compiled, so this is the steady rate); its compiles (one per batch shape, in the
   warm-up) are summed from the ``Phase`` events that report them.

Both ran once before the timed rounds (every shape compiled in this process), then in
interleaved rounds (order alternating); the cost is the median over rounds of
(sweep step time / training step time). Target: <= 1.5. The sweep pads every batch to the
widest bucket (one compile instead of one per bucket), which is part of what it costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from workloads import imdb_subset  # noqa: E402

import jaxtext  # noqa: E402

TARGET = 1.5
MODELS = ("mlp", "lstm", "transformer")
SWEEP = {"start_lr": 1e-8, "end_lr": 1e-5}  # low enough that no model diverges: N steps run


def sweep_step_s(settings: dict, steps: int) -> dict:
    finder = jaxtext.lr_find(settings, steps=steps, callbacks=[], **SWEEP)
    t = finder.timing
    return {"step_s": t["steps_s"] / max(1, t["steps_run"] - 1), "compile_s": t["compile_s"],
            "steps": int(t["steps_run"]), "status": finder.status}


class StepClock(jaxtext.Callback):
    """Wall clock over training steps ``first`` .. ``steps`` (counts of finished steps, as
    ``on_step`` reports them), then a stop. Measured here rather than taken from the trainer's
    own rate, which leaves out each batch shape's first call (its compile, or in a warm
    process its first run), a sizeable share of a 100-step window."""

    def __init__(self, steps: int, first: int = 2):
        self.steps, self.first = steps, first
        self.start = self.end = None  # (perf_counter, finished steps)

    def on_step(self, step: int) -> None:
        if self.start is None and step >= self.first:
            self.start = (time.perf_counter(), step)
        elif self.end is None and step >= self.steps:
            self.end = (time.perf_counter(), step)
            self.control.request_stop("benchmark window done")

    def step_s(self) -> float:
        return (self.end[0] - self.start[0]) / (self.end[1] - self.start[1])


def train_step_s(settings: dict, steps: int) -> dict:
    compiles = []  # seconds of each compile the trainer reported (one per batch shape)

    def note_compiles(event) -> None:
        if isinstance(event, jaxtext.events.Phase) and event.took_s:
            compiles.append(event.took_s)

    clock = StepClock(steps)
    run = jaxtext.train(settings, callbacks=[clock, note_compiles])
    return {"step_s": clock.step_s(), "compile_s": sum(compiles), "compiles": len(compiles),
            "steps": run.steps}


def measure(model: str, data, steps: int, rounds: int) -> dict:
    settings = {"model": model, "data": data, "epochs": 50}
    print(f"{model}: warm-up", flush=True)
    cold = {"sweep": sweep_step_s(settings, steps), "train": train_step_s(settings, steps)}
    ratios, sweeps, trains = [], [], []
    for r in range(rounds):
        order = ("sweep", "train") if r % 2 == 0 else ("train", "sweep")
        got = {kind: (sweep_step_s if kind == "sweep" else train_step_s)(settings, steps)
               for kind in order}
        sweeps.append(got["sweep"])
        trains.append(got["train"])
        ratios.append(got["sweep"]["step_s"] / got["train"]["step_s"])
        print(f"{model} round {r + 1}: sweep {1e3 * got['sweep']['step_s']:.2f} ms/step, "
              f"train {1e3 * got['train']['step_s']:.2f} ms/step, ratio {ratios[-1]:.2f}",
              flush=True)
    sweep_ms = 1e3 * statistics.median(s["step_s"] for s in sweeps)
    train_ms = 1e3 * statistics.median(t["step_s"] for t in trains)
    # the warm-up compiled everything in this process: its (cold) compiles are the ones a
    # user pays once, so they come from the first call of each
    return {"model": model, "steps": steps, "sweep_ms": sweep_ms, "train_ms": train_ms,
            "ratio": statistics.median(ratios),
            "sweep_compile_s": cold["sweep"]["compile_s"],
            "train_compile_s": cold["train"]["compile_s"],
            "train_compiles": cold["train"]["compiles"],
            "ratio_with_compiles": (cold["sweep"]["compile_s"] + steps * sweep_ms / 1e3)
            / (cold["train"]["compile_s"] + steps * train_ms / 1e3),
            "rounds": {"sweep": sweeps, "train": trains, "ratios": ratios, "cold": cold}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, mlp and lstm")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/lr_find.md")
    args = parser.parse_args(argv)

    models = args.models.split(",")
    data = "imdb"
    if args.quick:
        data = imdb_subset("classify", 3000, 200)
        models = [m for m in models if m != "transformer"]
        args.steps = min(args.steps, 40)
        args.rounds = min(args.rounds, 2)
    start = report.machine_facts("jax", "jaxlib", "flax", "optax")
    rows = [measure(model, data, args.steps, args.rounds) for model in models]
    end = report.machine_facts("jax", "jaxlib", "flax", "optax")

    worst = max(r["ratio"] for r in rows)
    passed = args.quick or worst <= TARGET
    table = [{k: v for k, v in r.items() if k != "rounds"} for r in rows]
    markdown = "\n\n".join([
        "# LR finder cost",
        f"Command: `{report.command_line()}`",
        report.facts_block(start, end),
        f"Data: {'a 3,000-review IMDB subset (--quick)' if args.quick else 'IMDB'}; each model "
        f"at its defaults; {args.steps} steps; median of {args.rounds} interleaved rounds after "
        "a warm-up. Step times exclude compiles; the compile columns are the warm-up's (cold "
        "in this process, though JAX's persistent compile cache may hold them): the sweep "
        "compiles once, training once per batch shape it meets.",
        report.table(table, [("model", "model"), ("steps", "steps"),
                             ("sweep_ms", "sweep step (ms)"), ("train_ms", "train step (ms)"),
                             ("ratio", "sweep / train"),
                             ("sweep_compile_s", "sweep compile (s)"),
                             ("train_compiles", "train compiles"),
                             ("train_compile_s", "train compiles (s)"),
                             ("ratio_with_compiles", "sweep / train, compiles included")]),
        f"Target: a sweep step costs <= {TARGET}x a training step: worst {worst:.2f}x "
        + ("(smoke run, no target)" if args.quick else "✓" if passed else "✗"),
        "The load average above says how busy the machine was: above 2 (its cores), the "
        "numbers are slower than it can do.",
    ]) + "\n"
    report.write(args.out, markdown, {"start": start, "end": end, "rows": rows})
    print(markdown)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
