"""The LR finder's loop: one compiled step, a new learning rate each call, losses to events.

Compiled once. The rate is an argument of the jitted step (``optim.swept_optimizer`` keeps it
in the optimizer state), and every sweep batch is padded to the widest of them, so the step
compiles for one shape whatever the rates and the buckets (training's steps compile per
bucket; a second compile would cost more than the padding).

No host sync per step: the loop dispatches ``IN_FLIGHT`` steps ahead of the one whose loss it
reads, so the device is never idle; the sweep may run that many steps past the divergence,
which are dropped. A stop (the Stop button, Ctrl-C) ends it at the next step; the curve so far
is kept.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np

from jaxtext import events as ev
from jaxtext.data.batching import Batch
from jaxtext.lr_finder import DIVERGE_FACTOR, SMOOTHING, has_diverged, suggest_rate
from jaxtext.training.optim import OptimizerSpec, swept_optimizer
from jaxtext.training.session import Session, Stopped
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import copy_arrays, init_model_state
from jaxtext.training.steps import lr_sweep_step_fn
from jaxtext.training.visible_compile import compile_visibly, describe_shape

IN_FLIGHT = 4  # steps dispatched beyond the one whose loss is read


@dataclasses.dataclass
class SweepCurve:
    """What the loop recorded, one entry per step, and how it ended."""

    lrs: list[float] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)
    smoothed: list[float] = dataclasses.field(default_factory=list)
    status: str = "completed"
    message: str = ""
    compile_s: float = 0.0
    steps_s: float = 0.0  # the steps after the first (compile excluded), wall clock
    dispatched: int = 0  # steps run, those past a divergence included

    @property
    def suggested(self) -> float | None:
        return suggest_rate(self.lrs, self.smoothed)


def sweep_batches(data, steps: int, num_devices: int) -> list:
    """The training batches the run would see first (epoch after epoch if one is too short),
    ``steps`` of them; classification batches padded to the epoch's widest: one shape for
    every sweep of this data, however long."""
    out, epoch, width = [], 0, 0
    while len(out) < steps:
        batches = data.batches("train", epoch=epoch, shuffle=True, pad_to_multiple=num_devices)
        if not batches:
            break
        if epoch == 0 and isinstance(batches[0], Batch):
            width = max(b.tokens.shape[1] for b in batches)
        out.extend(batches[:steps - len(out)])
        epoch += 1
    return [pad_width(b, width) for b in out] if width else out


def pad_width(batch: Batch, width: int) -> Batch:
    """A classification batch right-padded to ``width`` tokens (masked: the loss is unchanged)."""
    extra = width - batch.tokens.shape[1]
    if extra == 0:
        return batch
    return batch._replace(tokens=np.pad(batch.tokens, ((0, 0), (0, extra))),
                          mask=np.pad(batch.mask, ((0, 0), (0, extra))))


def sweep(config, data, session: Session, rates: np.ndarray, start_model=None) -> SweepCurve:
    """Train ``len(rates)`` steps at those rates from a fresh model (or ``start_model``),
    emitting ``LRFindStep`` per step; stops early on divergence or a stop request."""
    dp = DataParallel()
    if start_model is not None:  # a run's weights (init): the donating step must not eat them
        model = start_model._replace(params=copy_arrays(start_model.params),
                                     rest=copy_arrays(start_model.rest))
    else:
        model = init_model_state(config, data.dims, data)
    # The compiled step depends on the optimizer's kind and knobs, not on rates or schedules.
    spec = dataclasses.replace(OptimizerSpec.from_config(config, 1), lr=1.0,
                               schedule="constant", warmup_steps=0)
    tx = swept_optimizer(spec)
    step = lr_sweep_step_fn(model, tx, config.task, spec)
    state = tx.init(model.params)
    # the rate as the step returns it (strong float32), so the second call reuses the first's
    state = state._replace(hyperparams={**state.hyperparams,
                                        "learning_rate": jnp.float32(rates[0])})
    params, rest, opt_state = (dp.replicate(model.params), dp.replicate(model.rest),
                               dp.replicate(state))
    batches = sweep_batches(data, len(rates), dp.num_devices)
    curve = SweepCurve()
    tracker = _Tracker(curve, session)
    pending: deque = deque()  # (lr, loss on device) of the steps in flight
    started = None
    for i, (lr, batch) in enumerate(zip(rates, batches, strict=False)):  # no data: none
        if session.control.stop_requested:
            curve.status, curve.message = "interrupted", session.control.reason or "interrupted"
            break
        args = (params, rest, opt_state, dp.shard_batch(batch), np.float32(lr))
        if i == 0:
            try:
                outputs, curve.compile_s, _ = compile_visibly(
                    session, step, args,
                    f"the LR finder's step for {describe_shape(np.shape(batch[0]))}")
                session.phase("train", "sweeping the learning rate")
            except Stopped:
                curve.status = "interrupted"
                curve.message = f"{session.control.reason or 'interrupted'} while compiling"
                break
            started = time.perf_counter()
        else:
            outputs = step(*args)
        params, rest, opt_state, loss = outputs
        pending.append((float(lr), loss))
        curve.dispatched += 1
        while len(pending) > IN_FLIGHT and curve.status == "completed":
            tracker.record(*pending.popleft())
        if curve.status != "completed":
            break
        session.tick(i + 1 - len(pending))
    while pending and curve.status != "diverged":  # a stop keeps the steps it ran
        tracker.record(*pending.popleft())
    if started is not None:
        jax.block_until_ready(params)
        curve.steps_s = time.perf_counter() - started
    session.tick(len(curve.lrs))
    return curve


class _Tracker:
    """Reads one step's loss (the loop's only host sync), smooths it, emits it, and says when
    the sweep diverged."""

    def __init__(self, curve: SweepCurve, session: Session):
        self.curve, self.session = curve, session
        self.avg, self.lowest = 0.0, math.inf

    def record(self, lr: float, loss) -> bool:
        """True when this step ends the sweep (its status set to "diverged")."""
        curve, value = self.curve, float(loss)
        if not math.isfinite(value):
            curve.status = "diverged"
            curve.message = f"the loss became {value} at lr {lr:.3g}"
            return True
        n = len(curve.lrs) + 1
        self.avg = SMOOTHING * self.avg + (1 - SMOOTHING) * value
        smoothed = self.avg / (1 - SMOOTHING**n)
        curve.lrs.append(lr)
        curve.losses.append(value)
        curve.smoothed.append(smoothed)
        self.session.emit(ev.LRFindStep(step=n, lr=lr, loss=value, smoothed=smoothed))
        self.lowest = min(self.lowest, smoothed)
        if n > 1 and has_diverged(smoothed, self.lowest):
            curve.status = "diverged"
            curve.message = (f"the smoothed loss passed {DIVERGE_FACTOR:g}x its minimum at "
                             f"lr {lr:.3g}")
            return True
        return False
