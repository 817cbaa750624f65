"""How far the host runs ahead of the device: about ``QUEUE_S`` of queued steps.

Dispatching ahead keeps the device busy while the host builds the next batch; queueing too much
makes a Stop wait for all of it. So the queue holds two steps until it knows how long one takes,
then as many as take ``QUEUE_S`` (dozens of 2-ms steps, one step once a step takes longer;
measured: an empty queue cost 6 % on the transformer). The loop waits on the oldest step's loss,
so the step counts the views see are steps the device finished.
"""

from __future__ import annotations

import time
from collections import deque

IN_FLIGHT = 2  # steps queued ahead of the device until their duration is known
QUEUE_S = 0.1  # then: as many as take this long (a stop waits for no more), 1 for long steps
MAX_IN_FLIGHT = 64


class StepQueue:
    """The per-step losses (not donated) of the steps in flight, oldest first."""

    def __init__(self):
        self.pending: deque = deque()
        self.in_flight = IN_FLIGHT
        self.step_s: float | None = None  # how long a step takes on the device, smoothed
        self.last_done: float | None = None  # when the last waited-on step finished

    def __len__(self) -> int:
        return len(self.pending)

    def restart(self) -> None:
        """Forget the pending steps' timing (a new epoch, or a compile just happened): the next
        finished step starts a new interval."""
        self.last_done = None

    def push(self, loss) -> None:
        """A step was dispatched; wait for the oldest ones until the queue fits its bound."""
        self.pending.append(loss)
        while len(self.pending) > self.in_flight:
            self.pending.popleft().block_until_ready()
            self._step_done()

    def clear(self) -> None:
        self.pending.clear()

    def _step_done(self) -> None:
        """Learn how long steps take and size the queue to ``QUEUE_S`` of work (at least one
        step, so the device never waits on the host)."""
        now = time.perf_counter()
        if self.last_done is not None:
            seconds = now - self.last_done
            self.step_s = seconds if self.step_s is None else 0.8 * self.step_s + 0.2 * seconds
            self.in_flight = max(1, min(MAX_IN_FLIGHT, int(QUEUE_S / max(self.step_s, 1e-4))))
        self.last_done = now
