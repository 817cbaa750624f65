"""The one fold of a run's event stream: what every view and the ``Run`` know about training.

``History`` is a plain accumulator (no widgets, no clock, no device arrays). The trainer feeds it
every event; ``Run.history`` shows its rows as a DataFrame; the notebook dashboard, its static
summary and a saved run (``history.json`` holds the events, folded again on load) read the same
object, so a metric added to an event reaches every view through this one place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jaxtext import events as ev

_NOT_METRICS = ("kind", "step", "epoch", "elapsed_s")


@dataclass
class History:
    begin: ev.TrainBegin | None = None
    #: chart rows: ``kind`` "train" (one per log), "validation" and "train_epoch" (per epoch)
    rows: list[dict[str, Any]] = field(default_factory=list)
    last_log: ev.StepLog | None = None
    evals: dict[str, ev.EvalResult] = field(default_factory=dict)  # latest per split
    samples: list[ev.Samples] = field(default_factory=list)
    interrupt: ev.Interrupt | None = None
    end: ev.TrainEnd | None = None
    best_epoch: int | None = None
    events: list[ev.Event] = field(default_factory=list)  # everything folded, in order
    seen: Counter = field(default_factory=Counter)  # event type name -> count (staleness)
    phase: ev.Phase | None = None  # what the run is doing now

    def __call__(self, event: ev.Event) -> None:
        """A History is a callback: ``callbacks=[history]`` records a run."""
        self.update(event)

    def update(self, event: ev.Event) -> None:
        """Fold one event in (a ``Phase`` only replaces the current one: it is not kept)."""
        self.seen[type(event).__name__] += 1
        if isinstance(event, ev.Phase):
            self.phase = event
            return
        self.events.append(event)
        if isinstance(event, ev.TrainBegin):
            self.begin = event
        elif isinstance(event, ev.StepLog):
            self.last_log = event
            self.rows.append({"kind": "train", "step": event.step, "epoch": event.epoch,
                              "elapsed_s": event.elapsed_s, "lr": event.lr, "loss": event.loss,
                              "accuracy": event.accuracy,
                              "examples_per_s": event.examples_per_s})
        elif isinstance(event, ev.EvalResult):
            self.evals[event.split] = event
        elif isinstance(event, ev.EpochEnd):
            common = {"step": event.step, "epoch": event.epoch, "elapsed_s": event.elapsed_s}
            self.rows.append({"kind": "validation", **common, **event.validation})
            if event.train:
                self.rows.append({"kind": "train_epoch", **common, **event.train})
            if event.is_best:
                self.best_epoch = event.epoch
        elif isinstance(event, ev.Samples):
            self.samples.append(event)
        elif isinstance(event, ev.Interrupt):
            self.interrupt = event
        elif isinstance(event, ev.TrainEnd):
            self.end = event

    @classmethod
    def of(cls, events) -> History:
        """Fold a sequence of events (e.g. those read back from a saved run)."""
        history = cls()
        for event in events:
            history.update(event)
        return history

    def snapshot(self) -> History:
        """A copy that later events do not change (for a view drawing on another thread)."""
        return History(begin=self.begin, rows=list(self.rows), last_log=self.last_log,
                       evals=dict(self.evals), samples=list(self.samples),
                       interrupt=self.interrupt, end=self.end, best_epoch=self.best_epoch,
                       events=list(self.events), seen=Counter(self.seen), phase=self.phase)

    # -- derived views ----------------------------------------------------------------------

    @property
    def task(self) -> str:
        return self.begin.task if self.begin else "classify"

    @property
    def version(self) -> int:
        """Changes with every event, so views can tell what is stale."""
        return sum(self.seen.values())

    @property
    def validation_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["kind"] == "validation"]

    @property
    def report(self) -> ev.EvalResult | None:
        """The evaluation to show: test once the run has one, else the latest validation."""
        return self.evals.get("test") or self.evals.get("validation")

    @property
    def best_validation(self) -> dict[str, float]:
        """Metrics of the best epoch so far (the latest when none was marked best)."""
        val = self.validation_rows
        if not val:
            return {}
        best = next((r for r in val if r["epoch"] == self.best_epoch), val[-1])
        return {k: v for k, v in best.items() if k not in _NOT_METRICS}

    def last_train_metrics(self) -> dict[str, float]:
        """Loss (and accuracy) of the latest training log, for the epoch-end event."""
        if self.last_log is None:
            return {}
        out = {"loss": self.last_log.loss}
        if self.last_log.accuracy is not None:
            out["accuracy"] = self.last_log.accuracy
        return out

    def frame(self):
        """``Run.history``: one row per log (kind 'train') and per epoch (kind 'validation'),
        as a pandas DataFrame (the 'train_epoch' rows only serve the charts)."""
        import pandas as pd

        return pd.DataFrame([r for r in self.rows if r["kind"] != "train_epoch"])
