"""The live notebook view of a sweep (``callbacks=["sweep_dashboard"]``, the default of
``jaxtext.sweep`` and ``%%sweep`` in a kernel): a progress bar per group, one Altair chart with
a training-loss curve per configuration (colour = configuration), the ranked table, and Stop.
When the sweep ends a static copy (HTML: status, chart, table) replaces the widget, so a saved
notebook keeps it without widget state, as the training dashboard does.

Cost discipline as in ``dashboard.py``: ``on_step`` is one clock comparison until
``update_every`` seconds have passed; the chart is rebuilt only when new losses arrived, at most
every ``chart_every`` seconds, and drawn to SVG on the renderer's worker thread; the table is
re-rendered only when a configuration finished an epoch or ended. Events carry Python floats.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from jaxtext import Callback, SweepResult
from jaxtext import events as ev

from ._render import ChartRenderer
from ._subshell import route_to_subshell
from .dashboard import _close_tree

STOP_REASON = "stopped from the sweep dashboard"
_BAR_STYLES = {"completed": "success", "interrupted": "warning", "cancelled": "warning"}


def sweep_chart(curves: list[dict[str, Any]], metric: str = "loss"):
    """Training curves of every configuration: ``curves`` rows of {config, step, loss, ...}
    -> an Altair line chart, one colour per configuration (``config`` is its label)."""
    import altair as alt

    return alt.Chart(alt.Data(values=curves)).mark_line().encode(
        x=alt.X("step:Q", title="step"),
        y=alt.Y(f"{metric}:Q", title=f"training {metric}", scale=alt.Scale(zero=False)),
        color=alt.Color("config:N", title="configuration"),
        tooltip=["config:N", "step:Q", f"{metric}:Q"],
    ).properties(width=520, height=260, title="training loss per configuration")


def label(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in values.items())


class SweepDashboard(Callback):
    """``update_every``: seconds between progress updates; ``chart_every``: least seconds
    between chart renders; ``display``: show the widget (``None``: only inside a kernel)."""

    def __init__(self, *, update_every: float = 0.25, chart_every: float = 2.0,
                 display: bool | None = None):
        self.update_every, self.chart_every, self.display = update_every, chart_every, display
        self.widget = None
        self.w: dict[str, Any] = {}
        self.begin: ev.SweepBegin | None = None
        self.curves: list[dict[str, Any]] = []  # chart rows
        self.rows: dict[int, dict[str, Any]] = {}  # configuration -> its table row
        self.step = self.total = 0
        self.detail = ""
        self.dirty = {"chart": False, "table": False}
        self.next_update = self.next_chart = 0.0
        self._renderer = ChartRenderer()
        self._handle = None  # the display the static copy replaces
        self.static_html = ""  # what replaced the widget at the end

    def __call__(self, event) -> None:
        try:
            if isinstance(event, ev.SweepBegin):
                self._start(event)
            elif self.widget is None:
                return
            elif isinstance(event, ev.SweepItem):
                self._fold(event.index, event.event)
            elif isinstance(event, ev.Phase):
                self.detail = event.detail
            elif isinstance(event, ev.SweepEnd):
                self._end(event)
        except Exception as err:  # noqa: BLE001 - a broken view must not end the sweep
            warnings.warn(f"sweep dashboard: {type(err).__name__}: {err}", stacklevel=2)

    def _start(self, begin: ev.SweepBegin) -> None:
        import ipywidgets as W

        self.begin = begin
        self.rows = {i: {"config": i, **v, "status": "waiting"}
                     for i, v in enumerate(begin.values)}
        self.w = {
            "title": W.HTML(f"<b>{begin.name}</b>: {len(begin.values)} configurations over "
                            f"{', '.join(begin.keys)} in {len(begin.groups)} group(s)"),
            "progress": W.IntProgress(value=0, min=0, max=1, description="waiting"),
            "status": W.HTML(""),
            "stop": W.Button(description="Stop", icon="stop", button_style="warning"),
            "chart": W.HTML(""),
            "table": W.HTML(""),
        }
        self.w["stop"].on_click(lambda _: self.control and self.control.request_stop(STOP_REASON))
        self.widget = W.VBox([W.HBox([self.w["progress"], self.w["stop"]]), self.w["title"],
                              self.w["status"], self.w["chart"], self.w["table"]])
        if self.display or (self.display is None and _in_kernel()):
            from IPython.display import display

            self._handle = display(self.widget, display_id=True)
        route_to_subshell(self.w["stop"])  # clicks reach a busy kernel where it can
        self._renderer.warm_up()
        self._draw_table()

    def _fold(self, index: int, event) -> None:
        row = self.rows[index]
        if isinstance(event, ev.TrainBegin):
            row["status"] = "training"
            group = next(g for g in self.begin.groups if index in g)
            self.total = event.total_steps
            self.w["progress"].description = \
                f"group {self.begin.groups.index(group) + 1}/{len(self.begin.groups)}"
            self.dirty["table"] = True
        elif isinstance(event, ev.StepLog):
            self.step = event.step
            self.curves.append({"config": label(self.begin.values[index]),
                                "step": event.step, "loss": event.loss})
            self.dirty["chart"] = True
        elif isinstance(event, ev.EpochEnd):
            row.update({f"validation_{k}": v for k, v in event.validation.items()})
            self.dirty["table"] = True
        elif isinstance(event, ev.TrainEnd):
            row["status"] = event.status
            row.update({f"test_{k}": v for k, v in (event.test or {}).items()})
            self.dirty["table"] = True

    def on_step(self, step: int) -> None:
        now = time.monotonic()
        if self.widget is None or now < self.next_update:
            return
        self.next_update = now + self.update_every
        self._refresh(now)

    def _refresh(self, now: float, force: bool = False) -> None:
        w = self.w
        w["progress"].max, w["progress"].value = max(self.total, 1), min(self.step, self.total)
        w["status"].value = f"<small>{self.detail}</small>"
        if self.dirty["table"]:
            self._draw_table()
        if self.dirty["chart"] and (force or (now >= self.next_chart
                                              and self._renderer.idle())):
            self.dirty["chart"], self.next_chart = False, now + self.chart_every
            snapshot = list(self.curves)
            self._renderer.submit("chart", lambda: sweep_chart(snapshot))
        done = self._renderer.take()
        if "chart" in done:
            w["chart"].value = done["chart"]

    def _draw_table(self) -> None:
        import pandas as pd

        self.dirty["table"] = False
        ranked = SweepResult.rank_rows(list(self.rows.values()), self.begin.monitor,
                                       self.begin.higher_is_better)
        frame = pd.DataFrame(ranked).set_index("config")
        self.w["table"].value = frame.to_html(float_format=lambda v: f"{v:.4f}",
                                              na_rep="–")

    def _end(self, end: ev.SweepEnd) -> None:
        self.detail = f"{end.status} in {end.elapsed_s:.1f} s"
        self.w["stop"].layout.display = "none"
        self.w["progress"].bar_style = _BAR_STYLES.get(end.status, "")
        self._refresh(time.monotonic(), force=True)
        self._renderer.wait(timeout=30)
        self._refresh(time.monotonic())
        self._renderer.close()
        w = self.w
        self.static_html = (f'<div class="jaxtext-sweep">{w["title"].value}'
                            f'<div>{w["status"].value}</div>{w["chart"].value}'
                            f'{w["table"].value}</div>')
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self.static_html))
            _close_tree(self.widget)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    return getattr(get_ipython(), "kernel", None) is not None
