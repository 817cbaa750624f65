"""The callback (plugin) interface and the built-in views that use it.

A callback is any function of one event (``jaxtext.protocols.Callback``); subclass
``Callback`` to get one method per event type. A callback can ask training to stop at the next step boundary
with ``self.control.request_stop(reason)`` (the trainer sets ``control`` before training).

    class PrintLoss(jaxtext.Callback):
        def on_log(self, event):
            print(event.step, event.loss)
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from jaxtext import events as ev
from jaxtext.registry import register_callback


class TrainingControl:
    """Shared flag the loop checks between steps; set from callbacks, signals or threads."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.reason = ""

    def request_stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            self.reason = reason
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()


class Callback:
    """Base class: override the ``on_*`` methods you need."""

    control: TrainingControl | None = None

    def __call__(self, event: ev.Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            getattr(self, handler)(event)

    def on_step(self, step: int) -> None:
        """Called after every step with the count of steps the device has finished, and a few
        times a second while the run waits on a compile or on the data. Keep it cheap.

        The count may advance by more than one between calls (several queued steps can finish
        at once): compare with ``>=``, not ``==``."""

    def on_train_begin(self, event: ev.TrainBegin) -> None: ...
    def on_log(self, event: ev.StepLog) -> None: ...
    def on_eval(self, event: ev.EvalResult) -> None: ...
    def on_epoch_end(self, event: ev.EpochEnd) -> None: ...
    def on_samples(self, event: ev.Samples) -> None: ...
    def on_phase(self, event: ev.Phase) -> None: ...
    def on_interrupt(self, event: ev.Interrupt) -> None: ...
    def on_train_end(self, event: ev.TrainEnd) -> None: ...
    # the learning-rate finder (``jaxtext.lr_find``)
    def on_lr_find_begin(self, event: ev.LRFindBegin) -> None: ...
    def on_lr_find_step(self, event: ev.LRFindStep) -> None: ...
    def on_lr_find_end(self, event: ev.LRFindEnd) -> None: ...


_HANDLERS = {
    ev.TrainBegin: "on_train_begin",
    ev.StepLog: "on_log",
    ev.EvalResult: "on_eval",
    ev.EpochEnd: "on_epoch_end",
    ev.Samples: "on_samples",
    ev.Phase: "on_phase",
    ev.Interrupt: "on_interrupt",
    ev.TrainEnd: "on_train_end",
    ev.LRFindBegin: "on_lr_find_begin",
    ev.LRFindStep: "on_lr_find_step",
    ev.LRFindEnd: "on_lr_find_end",
}


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@register_callback("progress")
class TerminalProgress(Callback):
    """A tqdm progress bar with loss, accuracy and examples/s; then a short summary."""

    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.bar = None
        self._sampled: dict[str, int] = {}  # split -> examples scored, when eval_limit sampled

    def on_train_begin(self, event: ev.TrainBegin) -> None:
        from tqdm.auto import tqdm

        print(
            f"{event.run_name}: {event.model} ({event.num_params:,} params) on {event.data} "
            f"[{', '.join(f'{k} {v:,}' for k, v in event.dataset_sizes.items())}] "
            f"devices: {', '.join(event.devices)}",
            file=self.file,
        )
        self.bar = tqdm(total=event.total_steps, file=self.file, unit="step", dynamic_ncols=True,
                        mininterval=0.5, leave=True)

    def on_phase(self, event: ev.Phase) -> None:
        if self.bar is not None and event.name in ("compile", "evaluate", "samples"):
            self.bar.set_description_str(event.detail[:60], refresh=True)
        elif self.bar is not None:
            self.bar.set_description_str("", refresh=False)
        elif event.name == "data" and event.elapsed_s >= 1.0:  # quick data needs no story
            print(f"data: {event.detail} ({_fmt_time(event.elapsed_s)})", file=self.file)

    def on_log(self, event: ev.StepLog) -> None:
        if self.bar is None:
            return
        self.bar.update(event.step - self.bar.n)
        post = {"epoch": event.epoch, "loss": f"{event.loss:.4f}", "ex/s": f"{event.examples_per_s:,.0f}"}
        if event.accuracy is not None:
            post["acc"] = f"{event.accuracy:.3f}"
        self.bar.set_postfix(post, refresh=False)

    def on_eval(self, event: ev.EvalResult) -> None:
        self._sampled[event.split] = event.sampled

    def on_epoch_end(self, event: ev.EpochEnd) -> None:
        val = "  ".join(f"{k} {v:.4f}" for k, v in event.validation.items())
        sample = self._sample_note("validation")
        self._write(f"epoch {event.epoch}: validation{sample} {val}"
                    f"{'  (best)' if event.is_best else ''}")

    def _sample_note(self, split: str) -> str:
        n = self._sampled.get(split, 0)
        return f" (a sample of {n:,})" if n else ""

    def on_samples(self, event: ev.Samples) -> None:
        for s in event.samples[:2]:
            self._write(f"sample: {event.prompt}{s}")

    def on_interrupt(self, event: ev.Interrupt) -> None:
        self._write(f"stopping at step {event.step}: {event.reason}; keeping the last good weights")

    def on_train_end(self, event: ev.TrainEnd) -> None:
        if self.bar is None and event.status == "failed":
            return  # the data could not be prepared: the error the caller gets says why
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if event.test:
            test = "  ".join(f"{k} {v:.4f}" for k, v in event.test.items())
            print(f"test{self._sample_note('test')}: {test}", file=self.file)
        print(f"{event.status} in {_fmt_time(event.elapsed_s)} ({event.step} steps)"
              + (f": {event.message}" if event.message else ""), file=self.file)

    def on_lr_find_begin(self, event: ev.LRFindBegin) -> None:
        from tqdm.auto import tqdm

        print(f"LR finder: {event.model} on {event.data}, lr {event.start_lr:g} -> "
              f"{event.end_lr:g} over at most {event.steps} steps", file=self.file)
        self.bar = tqdm(total=event.steps, file=self.file, unit="step", dynamic_ncols=True,
                        mininterval=0.5, leave=False)

    def on_lr_find_step(self, event: ev.LRFindStep) -> None:
        if self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            self.bar.set_postfix({"lr": f"{event.lr:.2e}", "loss": f"{event.smoothed:.4f}"},
                                 refresh=False)

    def on_lr_find_end(self, event: ev.LRFindEnd) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif event.status in ("failed", "cancelled"):
            return  # the error the caller gets says why
        found = (f"suggested lr {event.suggested:.3g}" if event.suggested is not None
                 else "no rate suggested")
        print(f"LR finder {event.status} after {event.steps} steps"
              + (f" ({event.message})" if event.message else "") + f": {found}",
              file=self.file)

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.file)
        else:
            print(text, file=self.file)


@register_callback("json")
class JsonLinesWriter(Callback):
    """Appends every event as one JSON line to ``path`` (for scripts and dashboards)."""

    def __init__(self, path: str | Path = "events.jsonl"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def __call__(self, event: ev.Event) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(ev.event_to_dict(event), default=str) + "\n")
