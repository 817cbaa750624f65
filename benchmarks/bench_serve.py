"""Serving an exported classifier over HTTP: latency and throughput under concurrent clients.

    python benchmarks/bench_serve.py            # the default mlp on IMDB, 1,000 requests
    python benchmarks/bench_serve.py --quick    # smoke test: a small subset, 200 requests
    python benchmarks/bench_serve.py --run runs/demo   # a saved run instead of training one

What is measured: the default ``mlp`` (trained for ``--steps`` steps on IMDB: its speed, not its
accuracy, is what matters here) is exported with ``python -m jaxtext export`` and served with
``python -m jaxtext serve`` as a real subprocess on a free port. Then ``--requests`` requests,
one IMDB test review each, are sent by ``--clients`` concurrent clients (one keep-alive
connection each), and, for comparison, by one client alone. Every answer is checked against
``run.predict`` of the same review (bit-equal probabilities); an answer that differs, a non-200
status or a failed connection is an error. Latency is per request, as the client sees it.
Target: no errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from workloads import StopAfter, imdb_subset  # noqa: E402

import jaxtext  # noqa: E402


def start_server(folder: Path, max_batch: int, wait_ms: float):
    process = subprocess.Popen(
        [sys.executable, "-m", "jaxtext", "serve", str(folder), "--port", "0",
         "--max-batch", str(max_batch), "--wait-ms", str(wait_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")})
    line = process.stdout.readline()
    if not line.startswith("serving"):
        raise SystemExit(f"the server did not start: {line}{process.stderr.read()}")
    host, port = line.split()[3].removeprefix("http://").split(":")
    return process, host, int(port)


def load_test(host: str, port: int, texts: list[str], expected: dict, labels: list[str],
              clients: int) -> dict:
    """Send every text as one request from ``clients`` threads; latencies and errors."""
    local = threading.local()
    errors: list[str] = []

    def ask(text: str) -> float:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(host, port, timeout=120)
        body = json.dumps({"texts": [text]})
        start = time.perf_counter()
        try:
            local.conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = local.conn.getresponse()
            answer = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as err:
            local.conn.close()
            del local.conn
            errors.append(f"{type(err).__name__}: {err}")
            return time.perf_counter() - start
        elapsed = time.perf_counter() - start
        if response.status != 200:
            errors.append(f"status {response.status}: {answer}")
        else:
            probs = answer["predictions"][0]["probs"]
            if not np.array_equal(np.array([probs[n] for n in labels], np.float32),
                                  expected[text]):
                errors.append(f"probabilities differ from run.predict for {text[:40]!r}")
        return elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(ask, texts))
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(texts), "errors": len(errors),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "requests_per_s": len(texts) / wall,
            "first_errors": errors[:5]}


def health(host: str, port: int) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/health")
    return json.loads(conn.getresponse().read())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, 200 requests")
    parser.add_argument("--run", help="a saved classifier run to serve instead of training one")
    parser.add_argument("--steps", type=int, default=200, help="training steps of the mlp")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--wait-ms", type=float, default=5.0)
    parser.add_argument("--note", default="", help="a line added to the results")
    parser.add_argument("--out", default="benchmarks/results/serve.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = min(args.requests, 200)

    start = report.machine_facts("jax", "jaxlib", "flax")
    if args.run:
        run = jaxtext.load(args.run)
    else:
        data = imdb_subset("classify", 2000, 500) if args.quick else "imdb"
        run = jaxtext.train(model="mlp", data=data, callbacks=[StopAfter(args.steps)])
    from jaxtext.data import load_data

    reviews = list(load_data("imdb", task="classify").splits["test"]["text"])
    texts = [reviews[i % len(reviews)] for i in range(args.requests)]
    unique = sorted(set(texts))
    expected = dict(zip(unique, run.predict(unique)[run.label_names].to_numpy(), strict=True))

    with tempfile.TemporaryDirectory(prefix="jaxtext-bench-serve-") as tmp:
        folder = run.export(Path(tmp) / "export")
        process, host, port = start_server(folder, args.max_batch, args.wait_ms)
        try:
            load_test(host, port, texts[:50], expected, run.label_names, args.clients)  # warm
            before = health(host, port)
            rows = [load_test(host, port, texts, expected, run.label_names, args.clients)]
            after = health(host, port)
            rows.append(load_test(host, port, texts[:max(50, args.requests // 5)], expected,
                                  run.label_names, 1))
        finally:
            process.terminate()
            process.wait(timeout=30)
    calls = after["calls"] - before["calls"]
    rows[0]["texts_per_call"] = (after["requests"] - before["requests"]) / max(calls, 1)
    end = report.machine_facts("jax", "jaxlib", "flax")

    passed = all(r["errors"] == 0 for r in rows)
    markdown = "\n\n".join(filter(None, [
        "# Serving: latency and throughput over HTTP",
        f"Command: `{report.command_line()}`",
        report.facts_block(start, end),
        f"Model: {run.config.model} ({run.num_params:,} parameters, max_len "
        f"{run.config.max_len}), {run.steps} training steps, exported and served by "
        f"`python -m jaxtext serve` (--max-batch {args.max_batch}, --wait-ms {args.wait_ms}). "
        "One IMDB test review per request; every answer checked bit-equal to run.predict.",
        report.table(rows, [("clients", "clients"), ("requests", "requests"),
                            ("errors", "errors"), ("p50_ms", "p50 (ms)"),
                            ("p99_ms", "p99 (ms)"), ("requests_per_s", "requests/s"),
                            ("texts_per_call", "texts per batched call")]),
        f"Target: no errors: {'✓' if passed else '✗ ' + '; '.join(rows[0]['first_errors'])}",
        args.note,
    ])) + "\n"
    report.write(args.out, markdown, {"start": start, "end": end, "rows": rows,
                                      "args": vars(args)})
    print(markdown)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
