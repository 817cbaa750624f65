"""One ``jaxtext.train`` call as its views see it: the callbacks, the stop control and the clock.

The session starts before the data is prepared, so the views show every phase (preparing data,
compiling, training, evaluating). Work that blocks for seconds with no event to show (tokenizing,
an XLA compile) runs on a worker thread via ``wait_for``: the cell's own thread keeps calling the
views' ``on_step`` hooks (a live clock) and notices a stop request at once, leaving the worker to
finish in the background. Widgets are only ever touched from the cell's thread.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from jaxtext import events as ev
from jaxtext.callbacks import Callback, TrainingControl
from jaxtext.history import History

TICK_S = 0.25  # how often views hear from a cell that waits on a worker


class Stopped(Exception):
    """A stop was requested while ``wait_for`` waited on a worker (the work is abandoned)."""


class Session:
    def __init__(self, callbacks: list, history: History | None = None):
        self.history = history or History()
        self.views = list(callbacks)
        self.callbacks = [self.history, *self.views]
        self.control = TrainingControl()
        for cb in self.callbacks:  # a plain function has no control to set, and needs none
            with contextlib.suppress(AttributeError, TypeError):
                cb.control = self.control
        self.step_hooks = [cb.on_step for cb in self.callbacks  # skip the base class's no-op
                           if callable(getattr(cb, "on_step", None))
                           and getattr(type(cb), "on_step", None) is not Callback.on_step]
        self.clock = time.perf_counter()
        self.done = 0  # steps the device has finished: what on_step hooks are told

    def emit(self, event) -> None:
        for cb in self.callbacks:
            cb(event)

    def elapsed(self) -> float:
        return time.perf_counter() - self.clock

    def phase(self, name: str, detail: str, done: int = 0, total: int = 0,
              **extra: Any) -> None:
        self.emit(ev.Phase(name=name, detail=detail, elapsed_s=self.elapsed(), done=done,
                           total=total, **extra))

    def tick(self, done: int | None = None) -> None:
        """Tell the views the clock moved (and how many steps are done)."""
        if done is not None:
            self.done = done
        for hook in self.step_hooks:
            hook(self.done)

    def wait_for(self, work: Callable[[], Any],
                 on_tick: Callable[[], None] | None = None,
                 finish_before_exit: bool = False) -> Any:
        """``work()`` on a worker thread while this thread ticks the views (and calls
        ``on_tick``); ``Stopped`` as soon as a stop is requested (the worker goes on alone and
        its result is dropped). ``finish_before_exit``: the interpreter waits for the worker
        at exit (for work inside XLA, which aborts the process if its thread is killed);
        otherwise the worker dies with the process (tokenizing a corpus)."""
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["value"] = work()
            except BaseException as err:  # noqa: BLE001 - re-raised on the caller's thread
                result["error"] = err

        worker = threading.Thread(target=run, name="jaxtext-worker",
                                  daemon=not finish_before_exit)
        worker.start()
        while True:
            worker.join(TICK_S)
            if not worker.is_alive():
                break
            if self.control.stop_requested:
                raise Stopped
            if on_tick is not None:
                on_tick()
            self.tick()
        if "error" in result:
            raise result["error"]
        return result["value"]

    @contextlib.contextmanager
    def stop_on_sigint(self):
        """The first Ctrl-C / kernel interrupt is a stop request; a second one interrupts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        control = self.control

        def handler(signum, frame):
            if control.stop_requested:  # a second Ctrl-C: the user really wants out
                raise KeyboardInterrupt
            control.request_stop("interrupted")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
