"""Training on a corpus larger than memory (``stream: true``): reader speed and peak memory.

    python benchmarks/bench_stream.py            # a 10 GB generated corpus, ~10 min
    python benchmarks/bench_stream.py --quick    # 0.3 GB, smoke test, ~1 min

What is measured, on a text file of generated sentences (a made-up vocabulary, written in
big chunks; deleted afterwards):
1. The reader alone: batches of 64 x 256 tokens per second that the background thread
   makes (read, tokenize, pack, shuffle), per tokenizer kind, over ``--batches`` batches
   (whole shuffled blocks, the thread's start-up included): what a training loop can consume
   before it waits.
2. Training: the transformer (small settings) streamed for ``--steps`` steps in a fresh
   process: its examples per second and the process's peak resident memory
   (``ru_maxrss``). Target: peak memory under 2 GB whatever the corpus size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import report  # noqa: E402

TARGET_BYTES = 2 * 1024**3
WORDS = ("zor", "blick", "mav", "quen", "tiv", "dap", "sorn", "elk", "pim", "wub", "fral",
         "gosh", "nid", "plo", "rask", "ust", "veb", "kiln", "trum", "oska")
TRAIN = """
import json, resource, sys, jaxtext
run = jaxtext.train(task="lm", model="transformer", data="text:" + sys.argv[1], stream=True,
                    tokenizer="word", vocab_size=64, max_len=128, batch_size=32, epochs=1,
                    dim=64, layers=2, heads=2, sample_tokens=0, stream_holdout=500,
                    steps_per_epoch=int(sys.argv[2]), callbacks=[])
print(json.dumps({"status": run.status, "steps": run.steps, **run.timing,
                  "bits_per_char": run.test_metrics["bits_per_char"],
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def write_corpus(path: Path, size: int, seed: int = 0) -> float:
    """Write ``size`` bytes of generated sentences to ``path``; the seconds it took."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    lines = np.array([" ".join(rng.choice(WORDS, rng.integers(3, 16))) + "\n"
                      for _ in range(100_000)], dtype=object)
    with path.open("w") as f:
        while f.tell() < size:
            f.write("".join(lines[rng.permutation(len(lines))]))
    return time.perf_counter() - start


def reader_speed(path: Path, kind: str, batches: int) -> dict:
    """Batches per second the stream's thread makes for one tokenizer kind."""
    from jaxtext.config import Config
    from jaxtext.data.prepare import prepare_data

    data = prepare_data(Config.from_dict(task="lm", model="transformer", data=f"text:{path}",
                                         stream=True, tokenizer=kind, vocab_size=500,
                                         max_len=256, batch_size=64))
    start = time.perf_counter()
    stream = iter(data.batches("train", shuffle=True))
    for _ in range(batches):  # whole shuffled blocks of 64 batches, the thread's start too
        next(stream)
    seconds = time.perf_counter() - start
    data.close()
    return {"tokenizer": kind, "batches_per_s": batches / seconds,
            "mtokens_per_s": batches * 64 * 256 / seconds / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=10.0, help="corpus size in GB")
    parser.add_argument("--steps", type=int, default=500, help="training steps")
    parser.add_argument("--batches", type=int, default=640, help="batches timed per reader")
    parser.add_argument("--quick", action="store_true", help="0.3 GB, 50 steps, 128 batches")
    parser.add_argument("--out", default="benchmarks/results/stream.md")
    args = parser.parse_args()
    if args.quick:
        args.gb, args.steps, args.batches = 0.3, 50, 128
    start = report.machine_facts("jax", "jaxlib", "flax", "datasets", "tokenizers")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        write_s = write_corpus(path, int(args.gb * 1e9))
        readers = [reader_speed(path, kind, args.batches) for kind in ("char", "word", "bpe")]
        child = subprocess.run([sys.executable, "-c", TRAIN, str(path), str(args.steps)],
                               capture_output=True, text=True)
        if child.returncode:
            print(child.stderr[-3000:], file=sys.stderr)
            return 1
        import json

        train = json.loads(child.stdout.strip().splitlines()[-1])
    end = report.machine_facts("jax", "jaxlib", "flax", "datasets", "tokenizers")
    passed = train["status"] == "completed" and train["peak_bytes"] < TARGET_BYTES
    train["peak_mb"] = train["peak_bytes"] / 2**20
    markdown = "\n\n".join([
        "# Streaming a corpus larger than memory",
        f"Command: `{report.command_line()}`",
        report.facts_block(start, end),
        f"Corpus: {args.gb:g} GB of generated sentences, written in {write_s:.0f} s.",
        "Reader alone (batches of 64 x 256 tokens, start-up included):",
        report.table(readers, [("tokenizer", "tokenizer"), ("batches_per_s", "batches/s"),
                               ("mtokens_per_s", "M tokens/s")]),
        f"Training ({train['steps']} steps of 32 x 128 tokens, transformer dim 64):",
        report.table([train], [("train_examples_per_s", "examples/s"),
                               ("total_s", "total (s)"), ("peak_mb", "peak RSS (MB)"),
                               ("bits_per_char", "test bits/char")]),
        f"Target: peak resident memory under {TARGET_BYTES / 2**30:.0f} GB: "
        + ("✓" if passed else "✗"),
    ]) + "\n"
    report.write(args.out, markdown, {"start": start, "end": end, "readers": readers,
                                      "train": train, "corpus_gb": args.gb})
    print(markdown)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
