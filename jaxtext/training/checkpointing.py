"""Checkpoints while training: written in the background, atomically, newest K kept plus the best.

A checkpoint is a complete run folder (``jaxtext.load`` opens it) in ``out/checkpoints/``, named
``step-00000500`` (plus ``resume.json``, the loop's ``Position``) or ``best`` (the weights of the
best epoch by the monitored metric). The loop hands over copies of the device arrays and goes on;
a worker thread serializes and writes them (``checkpoint.write_run``: a temporary folder, then
one rename), so the folder on disk is always a whole checkpoint or none. One checkpoint is
written at a time: if the previous one is still being written, the loop waits for it.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaxtext.checkpoint import CHECKPOINTS, tree_bytes, write_run
from jaxtext.training.state import TrainedState, copy_arrays


@dataclass
class Position:
    """Where the training loop is: what a checkpoint saves and ``resume`` restores."""

    step: int = 0  # steps done
    epoch: int = 1  # the epoch being trained (1-based)
    batch: int = 0  # batches of that epoch done
    examples: int = 0  # training examples seen
    elapsed_s: float = 0.0  # training time so far (a resumed run's clock goes on from here)
    best_value: float | None = None  # best monitored validation metric so far
    bad_epochs: int = 0  # epochs since it improved (early stopping)
    sums: dict[str, float] | None = None  # metric sums since the last log (None = zero)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class Checkpointer:
    """Decides when a checkpoint is due and writes it into ``out/checkpoints`` off the loop."""

    def __init__(self, out: Path, *, steps: int = 0, seconds: float = 0.0, keep: int = 3):
        self.folder = Path(out) / CHECKPOINTS
        self.steps, self.seconds, self.keep = steps, seconds, keep
        self._last = time.monotonic()
        self._thread: threading.Thread | None = None
        self.written: list[str] = []  # names, in order
        self.error: str | None = None

    def due(self, step: int) -> bool:
        if self.steps and step % self.steps == 0:
            return True
        return bool(self.seconds) and time.monotonic() - self._last >= self.seconds

    def save(self, name: str, trained: TrainedState, position=None, best_state=None) -> None:
        """Copy the state on the device (cheap, asynchronous) and write it in the background."""
        self.wait()
        self._last = time.monotonic()
        model = trained.model
        params, rest, opt_state, best_state = copy_arrays(
            (model.params, model.rest, trained.opt_state, best_state))
        trained = dataclasses.replace(trained, model=model._replace(params=params, rest=rest),
                                      opt_state=opt_state, history=trained.history.snapshot(),
                                      data=None)
        extra = {}
        if position is not None:
            extra["resume.json"] = position.to_json()
        if best_state is not None:
            extra["best_state.msgpack"] = best_state
        self._thread = threading.Thread(target=self._write, args=(name, trained, extra),
                                        name="jaxtext-checkpoint", daemon=True)
        self._thread.start()

    def _write(self, name: str, trained: TrainedState, extra: dict) -> None:
        try:
            if "best_state.msgpack" in extra:
                extra["best_state.msgpack"] = tree_bytes(extra["best_state.msgpack"])
            write_run(self.folder / name, trained, extra)
            self.written.append(name)
            self._prune()
        except Exception as err:  # noqa: BLE001 - a failed checkpoint must not end training
            if self.error is None:
                warnings.warn(f"jaxtext: checkpoint {self.folder / name} failed: {err} "
                              "(training goes on)", RuntimeWarning, stacklevel=2)
            self.error = f"{type(err).__name__}: {err}"

    def _prune(self) -> None:
        steps = sorted(self.folder.glob("step-*"))
        for old in steps[: max(0, len(steps) - self.keep)]:
            shutil.rmtree(old, ignore_errors=True)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.wait()
