"""What the dashboard knows about a run: the events so far, folded into plain rows.

``RunHistory`` is a pure accumulator (no widgets, no display, no clock): the dashboard, the final
static summary and the tests all read the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jaxtext import events as ev


@dataclass
class RunHistory:
    begin: ev.TrainBegin | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # the charts' input (see charts.py)
    last_log: ev.StepLog | None = None
    evals: dict[str, ev.EvalResult] = field(default_factory=dict)  # latest per split
    samples: list[ev.Samples] = field(default_factory=list)
    interrupt: ev.Interrupt | None = None
    end: ev.TrainEnd | None = None
    best_epoch: int | None = None
    version: int = 0  # bumped on every change, so views can tell what is stale

    def update(self, event: ev.Event) -> None:
        """Fold one event in."""
        self.version += 1
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

    @property
    def task(self) -> str:
        return self.begin.task if self.begin else "classify"

    @property
    def validation_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["kind"] == "validation"]

    @property
    def report(self) -> ev.EvalResult | None:
        """The evaluation to show: test once the run has one, else the latest validation."""
        return self.evals.get("test") or self.evals.get("validation")
