"""Training speed on whatever JAX runs on (CPU, GPU, TPU): throughput, first step, MFU, and the
share of wall time spent outside the compiled step.

    python benchmarks/bench_accel.py                  # every workload this backend can run
    python benchmarks/bench_accel.py --quick          # smoke test: few steps, small data
    python benchmarks/bench_accel.py --workloads gpu-f32,gpu-bf16 --steps 50

For each workload (jaxtext's three models at their defaults, a GPU-sized transformer — 4 blocks,
dim 256, 4 heads, 512 tokens, batch 256 — in float32 and bfloat16, and a character-level
transformer LM) it reports, as a user of ``jaxtext.train`` sees them:
- train examples/s and tokens/s (steady state: the trainer's ``train_examples_per_s``, compiles
  left out; tokens are the real tokens of the examples, padding not counted);
- time to first step (``first_step_s``: from the call to the end of the first step, the data
  already cached on disk, compiled afresh unless the persistent compilation cache has it);
- the share of wall time outside the compiled step: the same batches, already on the device,
  through the same compiled step back to back, against the training loop's rate;
- model FLOPs utilization: XLA's FLOP count of one compiled step (``cost_analysis``) times the
  loop's steps/s, over the device's peak (the vendor's dense peak for known accelerators at the
  workload's precision; on a CPU the measured rate of a large jitted matmul);
- beside it, when PyTorch is installed, the same classifier architecture in PyTorch eager on the
  same device (``torch_models.py``; language models are not twinned).
The GPU-sized workloads are skipped on a CPU (a step takes minutes there) unless named.
Results go to ``benchmarks/results/accel-<platform>.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import report  # noqa: E402
from workloads import StopAfter, imdb_subset, pad_ids  # noqa: E402

import jaxtext  # noqa: E402

GPU_SIZED = {"model": "transformer", "layers": 4, "dim": 256, "heads": 4, "max_len": 512,
             "batch_size": 256, "mlp_ratio": 4.0}
WORKLOADS = {
    "mlp": {"model": "mlp"},
    "lstm": {"model": "lstm"},
    "transformer": {"model": "transformer"},
    "gpu-f32": {**GPU_SIZED, "precision": "f32"},
    "gpu-bf16": {**GPU_SIZED, "precision": "bf16"},
    "char-lm": {"model": "transformer", "task": "lm", "tokenizer": "char", "max_len": 256,
                "dim": 128, "heads": 4, "layers": 2},
}
ACCELERATOR_ONLY = ("gpu-f32", "gpu-bf16")
STEPS = {"mlp": 300, "lstm": 30, "transformer": 30, "gpu-f32": 40, "gpu-bf16": 40,
         "char-lm": 30}
# dense peak FLOP/s by device kind and compute dtype (vendor figures, no sparsity)
PEAKS = {"NVIDIA H200": {"f32": 494e12, "bf16": 989e12},  # f32 matmuls run as TF32 on GPU
         "NVIDIA H100 80GB HBM3": {"f32": 494e12, "bf16": 989e12},
         "NVIDIA A100-SXM4-80GB": {"f32": 156e12, "bf16": 312e12}}


def platform() -> str:
    return jax.devices()[0].platform


def measured_peak(dtype) -> float:
    """FLOP/s of a jitted 4096^2 matmul on the default device (the practical peak)."""
    n = 4096 if platform() != "cpu" else 2048
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    reps = 20 if platform() != "cpu" else 3
    t = time.perf_counter()
    for _ in range(reps):
        out = f(a)
    out.block_until_ready()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def peak_flops(precision: str) -> tuple[float, str]:
    kind = jax.devices()[0].device_kind
    if kind in PEAKS:
        return PEAKS[kind][precision], f"{kind} dense {precision} peak"
    dtype = jnp.bfloat16 if precision == "bf16" else jnp.float32
    return measured_peak(dtype), f"measured {precision} matmul rate"


def resolved_precision(settings: dict) -> str:
    from jaxtext.training.precision import compute_dtype

    return "bf16" if compute_dtype(settings.get("precision", "auto")) == jnp.bfloat16 else "f32"


def compiled_step_rate(run, steps: int) -> tuple[float, float]:
    """(examples/s of the trainer's own compiled step over the epoch's first batches, already on
    the device, back to back; XLA's FLOPs per example of that step)."""
    from jaxtext.training.optim import OptimizerSpec, make_optimizer
    from jaxtext.training.precision import compute_dtype
    from jaxtext.training.sharding import DataParallel
    from jaxtext.training.steps import train_step_fn, zero_sums

    cfg, state = run.config, run.trained
    dp = DataParallel(jax.devices())
    spec = OptimizerSpec.from_config(cfg, state.total_steps)
    tx = make_optimizer(spec)
    step = train_step_fn(state.model, tx, cfg.task, spec, cfg.loss, accumulate=cfg.accumulate,
                         dtype=compute_dtype(cfg.precision, dp.platform))
    batches = state.data.batches("train", epoch=0, shuffle=True, per_step=cfg.accumulate,
                                 pad_to_multiple=dp.num_devices * cfg.accumulate)[:steps]
    examples = sum(float(b.weights.sum()) if cfg.task != "lm" else b.weights.shape[0]
                   for b in batches)
    placed = [dp.shard_batch(b) for b in batches]
    params, rest = dp.replicate(state.model.params), dp.replicate(state.model.rest)
    opt, sums = dp.replicate(tx.init(state.model.params)), dp.replicate(zero_sums())
    for b in placed:  # every shape once (compiled already by the run: cache hits)
        params, rest, opt, sums, loss = step(params, rest, opt, sums, b)
    jax.block_until_ready(loss)
    start = time.perf_counter()
    for b in placed:
        params, rest, opt, sums, loss = step(params, rest, opt, sums, b)
    jax.block_until_ready((params, loss))
    seconds = time.perf_counter() - start
    widths = [b[0].shape for b in batches]
    common = max(set(widths), key=widths.count)
    sample = placed[widths.index(common)]
    cost = step.lower(params, rest, opt, sums, sample).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    per_example = float(cost.get("flops", 0.0)) / max(
        float(batches[widths.index(common)].weights.sum()) if cfg.task != "lm"
        else batches[0].weights.shape[0], 1.0)
    return examples / seconds, per_example


def tokens_per_example(run) -> float:
    enc = run.trained.data.encoded["train"]
    if run.config.task == "lm":
        return float(run.config.max_len)
    return float(np.minimum(enc.lengths, run.config.max_len).mean())


def torch_rate(run, steps: int) -> float | None:
    """Examples/s of the PyTorch twin (eager, same device kind), or None without torch."""
    try:
        import torch
        import torch_models
    except ImportError:
        return None
    if run.config.task != "classify":
        return None
    device = "cuda" if platform() == "gpu" and torch.cuda.is_available() else "cpu"
    cfg = run.config
    enc = run.trained.data.encoded["train"]
    x = pad_ids(enc.ids, enc.offsets, cfg.max_len)
    y = enc.labels.astype(np.int64)
    trainer = torch_models.Trainer(cfg.model, cfg, run.dims.vocab_size, len(run.label_names),
                                   steps * 2, seed=cfg.seed, device=device)
    batch = cfg.batch_size
    rows = np.random.default_rng(0).choice(len(x), min(len(x), (steps + 1) * batch),
                                           replace=len(x) < (steps + 1) * batch)
    float(trainer.step(x[rows[:batch]], y[rows[:batch]]))
    start = time.perf_counter()
    for i in range(1, steps + 1):
        loss = trainer.step(x[rows[i * batch:(i + 1) * batch]], y[rows[i * batch:(i + 1) * batch]])
    float(loss)
    return steps * batch / (time.perf_counter() - start)


def bench_workload(name: str, settings: dict, args, data) -> dict:
    steps = args.steps or STEPS[name]
    if args.quick:
        steps = min(steps, 10)
    keys = {**settings, "epochs": 1, "eval_limit": 200, "sample_tokens": 0, "data": data(settings)}
    print(f"\n== {name} [load {report.load_average()}]", flush=True)
    run = jaxtext.train(keys, callbacks=[StopAfter(steps)])
    loop = run.timing["train_examples_per_s"]
    pure, flops_per_example = compiled_step_rate(run, steps)
    precision = resolved_precision(settings)
    peak, peak_source = peak_flops(precision)
    tokens = tokens_per_example(run)
    row = {"workload": name, "precision": precision, "steps": steps,
           "params": run.num_params, "first_step_s": run.timing["first_step_s"],
           "examples_per_s": loop, "tokens_per_s": loop * tokens,
           "compiled_examples_per_s": pure,
           "outside_share": max(0.0, 1 - loop / pure) if pure else None,
           "mfu": flops_per_example * loop / peak if peak else None,
           "peak_flops": peak, "peak_source": peak_source,
           "pytorch_examples_per_s": None if args.no_torch else torch_rate(run, steps)}
    if row["pytorch_examples_per_s"]:
        row["vs_pytorch"] = loop / row["pytorch_examples_per_s"]
    print("   " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in row.items() if k != "workload"), flush=True)
    return row


def markdown(rows: list[dict], args, start: dict, end: dict) -> str:
    device = jax.devices()[0]
    cols = [("workload", "workload"), ("precision", "compute"), ("examples_per_s", "examples/s"),
            ("tokens_per_s", "tokens/s"), ("first_step_s", "first step s"),
            ("outside_share", "outside compiled step"), ("mfu", "MFU"),
            ("pytorch_examples_per_s", "PyTorch examples/s"), ("vs_pytorch", "jaxtext / PyTorch")]
    return (f"# Training speed on {device.platform} ({device.device_kind}, "
            f"{jax.device_count()} device(s))\n\n`{report.command_line()}`\n\n"
            + report.table(rows, cols) + "\n\n"
            "MFU: XLA's FLOPs of one compiled step x the loop's rate / "
            + ", ".join(sorted({r["peak_source"] for r in rows})) + ". Outside compiled step: "
            "1 - (loop examples/s) / (the same compiled step back to back on batches already "
            "on the device).\n\n" + report.facts_block(start, end) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="", help="comma-separated names; default: all "
                        "this backend runs (" + ", ".join(WORKLOADS) + ")")
    parser.add_argument("--steps", type=int, default=0, help="timed steps per workload")
    parser.add_argument("--quick", action="store_true", help="a smoke test: few steps")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch twins")
    parser.add_argument("--out", default="", help="result path (default by platform)")
    args = parser.parse_args(argv)
    names = [n for n in args.workloads.split(",") if n] or [
        n for n in WORKLOADS if platform() != "cpu" or n not in ACCELERATOR_ONLY]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    cache = {}

    def data(settings: dict):
        task = settings.get("task", "classify")
        if not args.quick:
            return "imdb"
        if task not in cache:
            cache[task] = imdb_subset(task, 2000, 200)
        return cache[task]

    start = report.machine_facts("jax", "jaxlib", "flax", "optax", "torch")
    rows = [bench_workload(n, WORKLOADS[n], args, data) for n in names]
    end = report.machine_facts("jax")
    out = args.out or Path(__file__).parent / "results" / f"accel-{platform()}.md"
    report.write(out, markdown(rows, args, start, end), {"rows": rows, "start": start,
                                                          "end": end, "median_outside":
                                                          statistics.median(
                                                              r["outside_share"] or 0
                                                              for r in rows)})
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
