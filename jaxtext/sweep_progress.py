"""The terminal view of a sweep (``callbacks=["sweep_progress"]``): one progress bar per group
whose line shows every configuration's latest loss, a line per configuration at each epoch end,
and the ranked table at the end. Redrawn by tqdm at most twice a second (``mininterval``)."""

from __future__ import annotations

import sys

from jaxtext import events as ev
from jaxtext.callbacks import Callback
from jaxtext.registry import register_callback

TABLE_ROWS = 20  # rows of the final ranked table printed


def _label(values: dict) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in values.items())


@register_callback("sweep_progress")
class SweepProgress(Callback):
    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.begin: ev.SweepBegin | None = None
        self.bar = None
        self.losses: dict[int, float] = {}  # configuration -> latest training loss

    def __call__(self, event) -> None:
        if isinstance(event, ev.SweepBegin):
            self.begin = event
            print(f"{event.name}: {len(event.values)} configurations over "
                  f"{', '.join(event.keys)} in {len(event.groups)} group(s) "
                  f"(each group trains together)", file=self.file)
        elif isinstance(event, ev.SweepItem):
            self._item(event.index, event.event)
        elif isinstance(event, ev.SweepEnd):
            self._close()
            self._table(event)
        elif isinstance(event, ev.Phase) and self.bar is not None:
            detail = event.detail if event.name in ("compile", "evaluate") else ""
            self.bar.set_description_str(detail[:60], refresh=False)

    def _item(self, index: int, event) -> None:
        if isinstance(event, ev.TrainBegin) and self.bar is None:
            from tqdm.auto import tqdm

            group = next(g for g in self.begin.groups if index in g) if self.begin else [index]
            self.bar = tqdm(total=event.total_steps, file=self.file, unit="step",
                            dynamic_ncols=True, mininterval=0.5, leave=True,
                            desc=f"{len(group)} together")
        elif isinstance(event, ev.StepLog) and self.bar is not None:
            self.losses[index] = event.loss
            self.bar.update(event.step - self.bar.n)
            best = min(self.losses.values())
            self.bar.set_postfix({"ex/s": f"{event.examples_per_s:,.0f}",
                                  "best loss": f"{best:.4f}"}, refresh=False)
        elif isinstance(event, ev.EpochEnd):
            values = self.begin.values[index] if self.begin else {}
            val = "  ".join(f"{k} {v:.4f}" for k, v in event.validation.items())
            self._write(f"epoch {event.epoch} [{_label(values)}]: validation {val}")
        elif isinstance(event, ev.TrainEnd):
            self._close()
            self.losses.clear()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _table(self, event: ev.SweepEnd) -> None:
        if not event.table:
            return
        import pandas as pd

        frame = pd.DataFrame(event.table[:TABLE_ROWS]).set_index("config")
        print(f"sweep {event.status} in {event.elapsed_s:.1f} s; ranked by validation "
              f"{self.begin.monitor if self.begin else ''}:", file=self.file)
        print(frame.to_string(float_format=lambda v: f"{v:.4f}"), file=self.file)

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.file)
        else:
            print(text, file=self.file)
