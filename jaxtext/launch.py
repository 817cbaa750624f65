"""``python -m jaxtext launch --processes N -- train ...``: N local processes, one run.

For trying multi-process training on one machine (each process one CPU device here, or one
GPU each with ``CUDA_VISIBLE_DEVICES``). The processes find each other through JAX's own
coordinator (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``: the same
variables a cluster launcher would set); process 0 prints and writes, the others' output is
kept and shown only if one fails. Ctrl-C stops them all; the first failure ends the rest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from jaxtext.errors import ConfigError

USAGE = "python -m jaxtext launch --processes N [--port PORT] -- train [SETTING ...]"


def parse_launch_args(tokens: list[str]) -> tuple[int, int | None, list[str]]:
    """-> (processes, port or None, the jaxtext command to run in each)."""
    processes, port, i = None, None, 0
    while i < len(tokens) and tokens[i] != "--" and tokens[i].startswith("--"):
        option, eq, value = tokens[i].partition("=")
        if not eq:
            if i + 1 >= len(tokens):
                raise ConfigError(f"{option} needs a value; usage: {USAGE}")
            value, i = tokens[i + 1], i + 1
        if option not in ("--processes", "--port") or not value.isdigit():
            raise ConfigError(f"launch takes --processes N and --port PORT (numbers), not "
                              f"{tokens[i] if not eq else option}; usage: {USAGE}")
        if option == "--processes":
            processes = int(value)
        else:
            port = int(value)
        i += 1
    command = tokens[i + 1:] if i < len(tokens) and tokens[i] == "--" else tokens[i:]
    if processes is None or processes < 1:
        raise ConfigError(f"launch needs --processes N (at least 1); usage: {USAGE}")
    if command[:1] != ["train"]:
        raise ConfigError(f"launch runs `train` in every process, not "
                          f"{' '.join(command[:1]) or 'nothing'}; usage: {USAGE}")
    return processes, port, command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(command: list[str], processes: int, port: int | None = None) -> int:
    """Run ``python -m jaxtext COMMAND`` in ``processes`` processes; -> the exit status."""
    address = f"127.0.0.1:{port or free_port()}"
    logs, procs = [], []
    for rank in range(processes):
        env = {**os.environ, "JAX_COORDINATOR_ADDRESS": address,
               "JAX_NUM_PROCESSES": str(processes), "JAX_PROCESS_ID": str(rank)}
        log = None if rank == 0 else tempfile.TemporaryFile(mode="w+")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "jaxtext", *command], env=env,
                                      stdout=log, stderr=subprocess.STDOUT if log else None))
    try:
        status = _wait(procs)
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        _reap(procs, grace_s=30)
        return 130
    for rank, (p, log) in enumerate(zip(procs, logs, strict=True)):
        if log is not None and p.returncode not in (0, None):
            log.seek(0)
            tail = log.read()[-3000:]
            print(f"--- process {rank} exited with {p.returncode}:\n{tail}", file=sys.stderr)
    return status


def _wait(procs: list[subprocess.Popen]) -> int:
    """Wait for all; when one fails, give the others a moment, then end them."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (0, None)]
        if failed:
            _reap(procs, grace_s=5)
            return failed[0]
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.1)


def _reap(procs: list[subprocess.Popen], grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
