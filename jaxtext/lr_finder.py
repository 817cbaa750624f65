"""The LR finder's numbers and result: a learning-rate range test (Smith 2015, fastai's lr_find).

The run's model, optimizer and data, exactly as ``jaxtext.train`` would build them, take
``steps`` training steps with the rate growing exponentially from ``start_lr`` to ``end_lr``;
the loss of each step is recorded and smoothed (a debiased exponential moving average), and the
sweep stops when the smoothed loss passes ``DIVERGE_FACTOR`` times its minimum or a loss is not
finite. Nothing is saved and nothing carries over to a later run: each sweep starts from the
run's fresh initialisation. ``jaxtext.lr_find`` (``api.py``) builds the run, the sweep itself
is ``jaxtext.training.lr_sweep``; the numbers here are pure numpy.

    finder = jaxtext.lr_find(model="mlp", data="rotten_tomatoes")
    finder.suggested                  # a float; jaxtext.train(..., lr=finder.suggested)
    jaxtext.train(model="mlp", data="rotten_tomatoes", lr="suggested")   # both in one call
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxtext.errors import ConfigError, shown

START_LR, END_LR, STEPS = 1e-7, 10.0, 100  # the default sweep
MIN_STEPS, MAX_STEPS = 5, 10_000
SMOOTHING = 0.98  # the moving average's weight on the past (fastai's)
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss exceeds this multiple of its minimum
RULE = ("suggested: one tenth of the rate where the smoothed loss was lowest, since at the "
        "minimum the rate is already about to make training unstable")
SWEEP_KEYS = ("start_lr", "end_lr", "steps")


def sweep_rates(start_lr: float, end_lr: float, steps: int) -> np.ndarray:
    """The rate of each step: float64[steps], geometric from ``start_lr`` to ``end_lr``.

    >>> sweep_rates(1e-3, 1e-1, 3).tolist()
    [0.001, 0.01, 0.1]
    """
    return np.geomspace(start_lr, end_lr, steps)


def smooth_losses(losses, beta: float = SMOOTHING) -> np.ndarray:
    """Debiased exponential moving average: ``avg = beta avg + (1 - beta) loss``, divided by
    ``1 - beta ** n`` so the first values are not pulled toward 0 (Adam's bias correction).

    >>> smooth_losses([2.0, 2.0, 2.0]).round(6).tolist()
    [2.0, 2.0, 2.0]
    """
    avg, out = 0.0, []
    for n, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * float(loss)
        out.append(avg / (1 - beta**n))
    return np.asarray(out, dtype=np.float64)


def has_diverged(smoothed: float, lowest: float) -> bool:
    """The sweep's stop test on the newest smoothed loss and the lowest one so far."""
    return not math.isfinite(smoothed) or smoothed > DIVERGE_FACTOR * lowest


def suggest_rate(lrs, smoothed) -> float | None:
    """``RULE``: a tenth of the rate at the smoothed loss's minimum, never below the first rate
    swept; None without a single point.

    >>> suggest_rate([1e-4, 1e-3, 1e-2, 1e-1], [1.0, 0.8, 0.5, 3.0])
    0.001
    """
    if len(smoothed) == 0:
        return None
    lrs = np.asarray(lrs, dtype=np.float64)
    best = int(np.argmin(np.asarray(smoothed, dtype=np.float64)))
    return float(max(lrs[best] / 10, lrs[0]))


def wants_suggested(lr: Any) -> bool:
    """``lr: suggested`` asks for the finder's rate; any other text is a one-line error."""
    if not isinstance(lr, str):
        return False
    if lr != "suggested":
        from jaxtext.errors import did_you_mean

        raise ConfigError(f"lr must be a number or 'suggested' (the LR finder's rate), not "
                          f"{shown(lr)}{did_you_mean(lr, ['suggested'])}")
    return True


def check_sweep(start_lr: Any, end_lr: Any, steps: Any) -> tuple[float, float, int]:
    """The sweep's settings, validated: one ``ConfigError`` line naming the fix."""
    values = {}
    for key, value, example in (("start_lr", start_lr, START_LR), ("end_lr", end_lr, END_LR)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) \
                or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{key} must be a positive number such as {example:g}, "
                              f"not {shown(value)}")
        values[key] = float(value)
    if values["start_lr"] >= values["end_lr"]:
        raise ConfigError(f"start_lr ({values['start_lr']:g}) must be below end_lr "
                          f"({values['end_lr']:g}); the sweep goes up, e.g. start_lr: 1e-7, "
                          "end_lr: 10")
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) \
            or not MIN_STEPS <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be a whole number from {MIN_STEPS} to {MAX_STEPS:,} "
                          f"(a curve needs points; {STEPS} is usual), not {shown(steps)}")
    return values["start_lr"], values["end_lr"], int(steps)


@dataclass(frozen=True)
class LRFinderResult:
    """What ``jaxtext.lr_find`` returns: the sweep's curve and the rate it suggests.

    ``lrs``, ``losses``, ``smoothed``: float64[n], one per recorded step (n <= ``steps``);
    ``suggested``: a float (``RULE``), None when no loss was finite; ``status``: "completed"
    (every step ran), "diverged" (stopped as the loss blew up: the usual end) or "interrupted".
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested: float | None
    status: str
    message: str
    config: Any  # the jaxtext.Config swept (its lr unused)
    start_lr: float = START_LR
    end_lr: float = END_LR
    steps: int = STEPS  # steps asked for
    rule: str = RULE
    timing: dict[str, float] = field(default_factory=dict)  # compile_s, steps_s, total_s

    def frame(self):
        """The curve as a pandas DataFrame: one row per step (step, lr, loss, smoothed)."""
        import pandas as pd

        return pd.DataFrame({"step": np.arange(1, len(self.lrs) + 1), "lr": self.lrs,
                             "loss": self.losses, "smoothed": self.smoothed})

    def table(self, rows: int = 12) -> str:
        """A compact text table: about ``rows`` steps spread over the curve, the lowest
        smoothed loss's step and the last one included."""
        n = len(self.lrs)
        if n == 0:
            return "(no steps recorded)"
        picks = set(np.linspace(0, n - 1, min(rows, n)).round().astype(int).tolist())
        picks.add(int(np.argmin(self.smoothed)))
        frame = self.frame().iloc[sorted(picks)]
        lowest = int(np.argmin(self.smoothed))
        frame["note"] = ["lowest smoothed loss" if i == lowest else "" for i in frame.index]
        return frame.to_string(index=False, formatters={
            "lr": "{:.2e}".format, "loss": "{:.4f}".format, "smoothed": "{:.4f}".format})

    def summary(self) -> str:
        """One line: the suggestion and how the sweep ended."""
        ran = f"{len(self.lrs)} of {self.steps} steps, lr {self.start_lr:g} -> {self.end_lr:g}"
        end = f"{self.status}" + (f": {self.message}" if self.message else "")
        if self.suggested is None:
            return f"no rate suggested ({ran}; {end})"
        return f"suggested lr {self.suggested:.3g} ({ran}; {end})"

    def __repr__(self) -> str:
        cfg = self.config
        head = f"LRFinderResult({cfg.model} on {cfg.to_dict()['data']})" if cfg is not None \
            else "LRFinderResult"
        return f"{head}: {self.summary()}\n{self.rule}"
