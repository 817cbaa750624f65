"""Training speed as the views and ``run.timing`` report it, compile time left out.

A step whose batch shape compiled first is timed apart: its seconds and its examples leave
both the steady rate (``run.timing["train_examples_per_s"]``) and the current log window, else
a short window that meets new shapes reads too fast (or too slow). The ETA divides the steps
left by a smoothed steps-per-second.
"""

from __future__ import annotations

import time


class Throughput:
    def __init__(self, step: int, examples: int):
        self.first_step_s: float | None = None  # session time when the first step was queued
        self.train_s = 0.0  # seconds in training epochs, compiles excluded
        self.steady_start = 0  # examples not counted in the steady rate
        self.window_time = time.perf_counter()  # the log window: since the last StepLog
        self.window_examples = examples
        self.window_step = step
        self.steps_per_s: float | None = None  # smoothed over log windows
        self._epoch_clock = 0.0

    def start_epoch(self) -> None:
        self._epoch_clock = time.perf_counter()

    def end_epoch(self) -> None:
        self.train_s += time.perf_counter() - self._epoch_clock

    def leave_out(self, seconds: float) -> None:
        """A compile took ``seconds``: neither the steady clock nor the window counts them."""
        self._epoch_clock += seconds
        self.window_time += seconds

    def count(self, total_examples: int, examples: int, *, compiled: bool,
              elapsed_s: float) -> None:
        """A step of ``examples`` was queued (``total_examples`` so far); ``compiled``: it
        was timed with its compile."""
        if self.first_step_s is None:
            self.first_step_s = elapsed_s
            self.steady_start = total_examples
            self.window_examples = total_examples
        elif compiled:
            self.steady_start += examples
            self.window_examples += examples

    def window_s(self) -> float:
        return time.perf_counter() - self.window_time

    def close_window(self, step: int, examples: int, total_steps: int) -> tuple[float, float]:
        """End the log window at ``step``; -> (examples/s in it, ETA in seconds)."""
        now = time.perf_counter()
        dt = max(now - self.window_time, 1e-9)
        rate = (examples - self.window_examples) / dt
        steps_per_s = (step - self.window_step) / dt
        self.steps_per_s = steps_per_s if self.steps_per_s is None \
            else 0.7 * self.steps_per_s + 0.3 * steps_per_s
        self.window_time, self.window_examples, self.window_step = now, examples, step
        return rate, (total_steps - step) / max(self.steps_per_s, 1e-9)

    def timing(self, examples: int, total_s: float) -> dict[str, float]:
        """``run.timing``: first step, steady examples/s, the whole call's seconds."""
        steady = examples - self.steady_start
        return {"first_step_s": self.first_step_s or 0.0,
                "train_examples_per_s": steady / self.train_s if self.train_s else 0.0,
                "total_s": total_s}
