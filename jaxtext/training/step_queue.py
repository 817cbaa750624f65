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
    """The per-step losses (not donated) of the steps in flight, oldest first, each with the
    time it was dispatched."""

    def __init__(self):
        self.pending: deque = deque()
        self.in_flight = IN_FLIGHT
        self.step_s: float | None = None  # how long a step takes on the device, smoothed
        self.last_done: float | None = None  # when the last waited-on step finished, if known

    def __len__(self) -> int:
        return len(self.pending)

    def restart(self) -> None:
        """Forget when the last step finished (a new epoch, or a compile just happened): the
        next step's time is counted from its dispatch."""
        self.last_done = None

    def push(self, loss) -> None:
        """A step was dispatched; wait for the oldest ones until the queue fits its bound."""
        self.pending.append((loss, time.perf_counter()))
        while len(self.pending) > self.in_flight:
            self._wait_oldest()

    def clear(self) -> None:
        self.pending.clear()

    def _wait_oldest(self) -> None:
        """Wait for the oldest step and, if the wait blocked, learn the device's step time.

        Only a blocked wait times the device: a step found finished (the host is the slower
        one, or a compile already ran it) finished at some unknown earlier moment, and
        counting it would take the host's pace for the device's (measured: two steps found
        finished after a compile made a 0.2-s LSTM step look like 1 ms, the queue grew to
        eight steps, and a Stop waited 2.5 s for them)."""
        loss, dispatched = self.pending.popleft()
        blocked = not loss.is_ready()
        loss.block_until_ready()
        now = time.perf_counter()
        if blocked:
            started = dispatched if self.last_done is None else max(dispatched, self.last_done)
            self._learn(now - started)
            self.last_done = now
        else:
            self.last_done = None

    def _learn(self, seconds: float) -> None:
        """Size the queue to ``QUEUE_S`` of work (at least one step, so the device never waits
        on the host)."""
        self.step_s = seconds if self.step_s is None else 0.8 * self.step_s + 0.2 * seconds
        self.in_flight = max(1, min(MAX_IN_FLIGHT, int(QUEUE_S / max(self.step_s, 1e-4))))
