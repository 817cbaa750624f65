"""Where a sweep's step time goes: the default mlp's step of 8 configurations, as one vmapped
call and as the sweep trainer's two calls of 4, against 8 single steps, by kind of XLA kernel.

    python benchmarks/profile_sweep.py                  # IMDB's batch widths at max_len 1024
    python benchmarks/profile_sweep.py --widths 312 --rounds 10

See benchmarks/README.md, "Why 8 configurations together are not 2x faster here". The steps
are jaxtext's own (``sweep_step.sweep_step_fn`` over bench_sweep.py's grid, and
``steps.train_step_fn`` run 8 times), on the default mlp with IMDB's vocabulary (30,000) and a
batch of 64 rows of synthetic Zipf-distributed token ids, half to all of the width real. Per
width it prints the wall time of one step of each way (the least over rounds of the mean of
``--steps`` steps, dispatch included) and their kernel time from a ``jax.profiler`` trace, by
kind: "tokens" are kernels that write a row per token or gather / scatter-add (the lookup, the
masked mean, their gradients), "tables" others that read or write an embedding table (the AdamW
update, its finiteness selects, the gradient's zeros and global norm), "other" the rest. Each
kernel's time is the 20th percentile of its runs (a shared machine's preemptions removed).
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxtext.config import Config
from jaxtext.data.batching import Batch
from jaxtext.protocols import Dims
from jaxtext.training.optim import OptimizerSpec, make_optimizer
from jaxtext.training.state import init_model_state
from jaxtext.training.steps import train_step_fn, zero_sums
from jaxtext.training.sweep_step import stack_configs, sweep_step_fn

WAYS = {"single": "8 single steps", "sweep": "1 vmapped step of 8",
        "chunks": "2 vmapped steps of 4"}
GRID = [{"lr": lr, "seed": seed} for lr in (5e-3, 1e-2, 2e-2, 4e-2) for seed in (0, 1)]
VOCAB, BATCH = 30_000, 64
_SHAPE = re.compile(r"^\s*%(\S+) = \(?[a-z]+\d*\[([\d,]*)\]")


def synthetic_batch(width: int, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(width // 2, width + 1, BATCH)
    mask = np.arange(width)[None] < lengths[:, None]
    tokens = np.where(mask, rng.zipf(1.3, (BATCH, width)) % (VOCAB - 1) + 1, 0).astype(np.int32)
    return Batch(jnp.asarray(tokens), jnp.asarray(mask),
                 jnp.asarray(rng.integers(0, 2, BATCH).astype(np.int32)),
                 jnp.ones(BATCH, jnp.float32), jnp.arange(BATCH))


class Ways:
    """Both ways as ``run(state) -> state`` (one step), with fresh states and compiled HLO."""

    def __init__(self, batch: Batch):
        dims = Dims(vocab_size=VOCAB, num_outputs=2, max_len=1024)
        configs = [Config.from_dict({"model": "mlp", **point}) for point in GRID]
        self.models = [init_model_state(c, dims) for c in configs]
        self.specs = [OptimizerSpec.from_config(c, 1000) for c in configs]
        self.hyper = {k: jnp.asarray([getattr(s, k) for s in self.specs], jnp.float32)
                      for k in ("lr", "weight_decay", "grad_clip")}
        self.batch = batch
        self.tx = make_optimizer(self.specs[0])
        self.single = train_step_fn(self.models[0], self.tx, "classify", ("profile", self.specs[0]))
        self.sweep = sweep_step_fn(self.models[0], self.specs[0], "classify", True)

    def fresh(self, way: str):
        if way == "single":
            m = self.models[0]
            return jax.tree.map(jnp.copy, (m.params, m.rest, self.tx.init(m.params), zero_sums()))
        if way == "chunks":  # as the sweep trainer holds the default mlp's 8: two stacks of 4
            return [self._stacked(self.models[:4], self.specs[:4]),
                    self._stacked(self.models[4:], self.specs[4:])]
        return self._stacked(self.models, self.specs)

    @staticmethod
    def _stacked(models, specs):
        return jax.tree.map(jnp.copy, (
            stack_configs([m.params for m in models]), stack_configs([m.rest for m in models]),
            stack_configs([make_optimizer(s).init(m.params)
                           for s, m in zip(specs, models, strict=True)]),
            {k: jnp.zeros(len(models)) for k in ("loss", "correct", "count")}))

    def run(self, way: str, state):
        if way == "single":  # the 8 configurations one after another: 8 dispatches
            for _ in GRID:
                state = self.single(*state, self.batch)[:4]
            return state
        if way == "chunks":
            halves = [jax.tree.map(lambda x: x[:4], self.hyper),
                      jax.tree.map(lambda x: x[4:], self.hyper)]
            return [self.sweep(*part, hyper, self.batch)[:4]
                    for part, hyper in zip(state, halves, strict=True)]
        return self.sweep(*state, self.hyper, self.batch)[:4]

    def hlo(self, way: str) -> str:
        if way == "single":
            return self.single.lower(*self.fresh(way), self.batch).compile().as_text()
        state, hyper = self.fresh(way), self.hyper
        if way == "chunks":  # both calls run the one program of 4 configurations
            state, hyper = state[0], jax.tree.map(lambda x: x[:4], hyper)
        return self.sweep.lower(*state, hyper, self.batch).compile().as_text()


def wall_ms(ways: Ways, rounds: int, steps: int) -> dict[str, float]:
    """Least over interleaved rounds of the mean step time, per way."""
    states = {way: ways.fresh(way) for way in WAYS}
    best = {way: float("inf") for way in states}
    for _ in range(rounds):
        for way in states:
            state = jax.block_until_ready(ways.run(way, states[way]))
            started = time.perf_counter()
            for _ in range(steps):
                state = ways.run(way, state)
            jax.block_until_ready(state)
            best[way] = min(best[way], (time.perf_counter() - started) / steps * 1e3)
            states[way] = state
    return best


def kernel_ms(ways: Ways, way: str, steps: int) -> dict[str, float]:
    """ms per step by kind of kernel (tables / tokens / other), from a profiler trace."""
    shapes, operands = {}, {}
    for line in ways.hlo(way).splitlines():
        m = _SHAPE.match(line)
        if m:
            shapes[m.group(1)] = [int(d) for d in m.group(2).split(",") if d]
            operands[m.group(1)] = re.findall(r"%([\w.\-]+)", line.split("=", 1)[1])
    state = jax.block_until_ready(ways.run(way, ways.fresh(way)))
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for _ in range(steps):
                state = ways.run(way, state)
            jax.block_until_ready(state)
        path = glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)[0]
        events = json.load(gzip.open(path))["traceEvents"]
    runs = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e["name"] in shapes:
            runs[e["name"]].append(e["dur"])
    kinds = collections.Counter()
    for name, durations in runs.items():
        kinds[_kind(name, [shapes[name]] + [shapes[o] for o in operands[name] if o in shapes],
                    ways.batch.tokens.size)] += (np.percentile(durations, 20) * len(durations)
                                                 / steps / 1e3)
    return dict(kinds)


def _kind(name: str, shapes: list[list[int]], tokens: int) -> str:
    """A kernel by the arrays it writes (``shapes[0]``) and reads: per token (gather,
    scatter-add, a result with a row per token), over the tables (a dimension of VOCAB rows),
    or other."""
    output = shapes[0]
    if "gather" in name or "scatter" in name or (VOCAB not in output
                                                  and np.prod(output) >= tokens):
        return "tokens"
    if any(VOCAB in shape for shape in shapes):
        return "tables"
    return "tokens" if any(np.prod(shape) >= tokens for shape in shapes) else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", default="176,312,568,1024",
                        help="batch widths (IMDB's bucket widths at max_len 1024; an epoch of "
                             "150 steps has 46, 49, 29 and 14 batches of them, and 12 shorter)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4, help="steps per round and per trace")
    args = parser.parse_args()
    print("| width | way | step (ms) | kernels: tables | tokens | other |")
    print("|---|---|---|---|---|---|")
    for width in map(int, args.widths.split(",")):
        ways = Ways(synthetic_batch(width))
        wall = wall_ms(ways, args.rounds, args.steps)
        for way, label in WAYS.items():
            kinds = kernel_ms(ways, way, args.steps * 2)
            print(f"| {width} | {label} | {wall[way]:.1f} | {kinds.get('tables', 0):.1f} | "
                  f"{kinds.get('tokens', 0):.1f} | {kinds.get('other', 0):.1f} |")


if __name__ == "__main__":
    main()
