"""Chart rendering on one worker thread, so training does not wait for SVG.

vl-convert draws in V8 with the GIL released (measured: a pure-Python loop on the main thread
kept its speed during a cold 0.7 s render), so the training loop keeps dispatching while a chart
renders; only the chart's build and ``to_dict`` (10-40 ms) hold the GIL. The loop submits a *builder* (a closure over a snapshot of the history) per slot;
only the newest job of a slot is kept, and the main thread picks the finished SVGs up at its next
throttled update (widgets are only ever touched from the main thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ChartRenderer:
    def __init__(self) -> None:
        self._pending: dict[str, Callable] = {}  # slot -> builder, newest wins
        self._done: dict[str, str] = {}  # slot -> svg, not yet taken
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        #: (slot, seconds, svg bytes) of every render, for the cost numbers in the docs and tests.
        self.timings: list[tuple[str, float, int]] = []

    def submit(self, slot: str, build: Callable) -> None:
        """Render ``build()`` (an ``alt.Chart`` or ``None``) into ``slot`` on the worker thread."""
        with self._cond:
            self._pending[slot] = build
            self._ensure_thread()
            self._cond.notify()

    def take(self) -> dict[str, str]:
        """The SVGs finished since the last call, by slot (cheap; call from the main thread)."""
        with self._cond:
            done, self._done = self._done, {}
        return done

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job is rendered; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def idle(self) -> bool:
        """Nothing queued and nothing rendering."""
        with self._cond:
            return not self._pending and not self._busy

    def seconds_spent(self) -> float:
        """Total render time so far (the V8 warm-up excluded): what the budget is charged."""
        with self._cond:
            return sum(t for slot, t, _ in self.timings if not slot.startswith("_"))

    def expected_seconds(self, slots, default: float = 0.05) -> float:
        """What rendering ``slots`` will likely take: each slot's last render time."""
        with self._cond:
            last = {slot: t for slot, t, _ in self.timings}
        return sum(last.get(slot, default) for slot in slots)

    def cancel(self) -> None:
        """Drop the jobs not started yet (a render in progress finishes)."""
        with self._cond:
            self._pending.clear()
            self._cond.notify_all()

    def warm_up(self) -> None:
        """Start V8 in the background (the first render in a process costs ~0.7 s)."""
        self.submit("_warm_up", lambda: {"mark": "point", "data": {"values": []}})

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._closed = False
            self._thread = threading.Thread(target=self._work, name="jaxtext-chart-render",
                                            daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                slot = next(iter(self._pending))
                build = self._pending.pop(slot)
                self._busy = True
            start = time.perf_counter()
            try:
                from .charts import to_svg  # altair loads here, off the cell's thread

                chart = build()  # None: nothing to draw yet
                svg = to_svg(chart) if chart is not None else ""
            except Exception as err:  # noqa: BLE001 - show it in the panel, keep training
                svg = f"<pre style='color:#c62828'>chart failed: {type(err).__name__}: {err}</pre>"
            seconds = time.perf_counter() - start
            with self._cond:
                self._busy = False
                if not slot.startswith("_"):
                    self._done[slot] = svg
                self.timings.append((slot, seconds, len(svg)))
                self._cond.notify_all()
