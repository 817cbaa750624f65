"""A step's first call (its XLA compile) on a worker thread, shown as it happens.

The views see "compiling the train step for batches of 64 x 256 tokens" with a live clock, then
"... compiled in 8.2 s" or "... loaded from the compile cache"; a Stop abandons the compile at
once (``Session.wait_for`` raises ``Stopped``): the copies of donated arguments are made on the
worker too, since they wait for the steps still queued (measured: a stop during a cold compile
waited 4.5 s for ``jnp.copy``'s own compiles before the fix). Shared by training, evaluation inside training,
the LR finder and sweeps.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from jaxtext.training import compile_cache
from jaxtext.training.session import Session
from jaxtext.training.state import copy_arrays


def compile_visibly(session: Session, step, args: tuple, what: str,
                    donated: int = 0) -> tuple[Any, float, bool]:
    """``step(*args)``, waited for on a worker; -> (outputs, seconds, loaded from the cache).

    ``what`` names the step ("the train step for batches of 64 x 256 tokens"). ``donated``:
    how many leading arguments the step consumes; they are copied first, so a stop during the
    compile (which abandons the call) leaves the originals intact.
    """
    session.phase("compile", f"compiling {what}")
    hits, misses = compile_cache.lookups()
    start = time.perf_counter()

    def first_call():
        safe = (*copy_arrays(args[:donated]), *args[donated:]) if donated else args
        return jax.block_until_ready(step(*safe))

    # an abandoned compile finishes before the interpreter exits (killing a thread inside
    # XLA aborts the process)
    outputs = session.wait_for(first_call, finish_before_exit=True)
    seconds = time.perf_counter() - start
    new_hits, new_misses = compile_cache.lookups()
    cached = new_hits > hits and new_misses == misses
    how = ("compiled" if new_misses > misses else
           "loaded from the compile cache" if cached else "reused")
    session.phase("compile", f"{what.removeprefix('the ')} {how} in {seconds:.1f} s",
                  took_s=seconds, cached=cached)
    return outputs, seconds, cached


def describe_shape(dims) -> str:
    """A batch shape in words: ``(64, 120)`` -> "batches of 64 x 120 tokens"."""
    dims = tuple(int(d) for d in np.atleast_1d(dims))
    return f"batches of {' x '.join(map(str, dims))} tokens" if len(dims) == 2 \
        else f"shape {dims}"
