"""The LR finder's notebook view: loss against learning rate, drawn while the sweep runs.

A callback plugin like the training ``Dashboard`` (entry point ``lr_finder`` in the group
``jaxtext.callbacks``; ``jaxtext.lr_find`` picks it in a kernel): it reads only the events of
``jaxtext.events`` (``Phase``, ``LRFindBegin``, ``LRFindStep``, ``LRFindEnd``), so another view
of the sweep needs nothing more. The chart is ``lr_chart.lr_find_chart`` drawn as SVG on the
dashboard's render thread, at most every ``chart_every`` seconds; when the sweep ends a static
copy (the final chart, the suggestion and its rule) replaces the widget, so a saved notebook
keeps it. A Stop button ends the sweep at the next step (the curve so far is kept).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from jaxtext import Callback
from jaxtext import events as ev

from . import report
from ._render import ChartRenderer
from ._subshell import route_to_subshell
from .dashboard import _close_tree, in_kernel
from .lr_chart import lr_find_chart

STOP_REASON = "stopped from the LR finder"


class LRFinderChart(Callback):
    """Live chart of ``jaxtext.lr_find`` (``callbacks=["lr_finder"]``, the default in a kernel).

    ``chart_every``: least seconds between chart renders; ``display``: show the widget
    (``None``: only inside a kernel).
    """

    def __init__(self, *, chart_every: float = 0.5, display: bool | None = None):
        self.chart_every = chart_every
        self.display = display
        self.begin: ev.LRFindBegin | None = None
        self.rows: list[dict[str, float]] = []  # one per LRFindStep
        self.end: ev.LRFindEnd | None = None
        self.widget = None
        self.w: dict[str, Any] = {}
        self.svg = ""  # the chart shown now
        self.static_html = ""  # what replaced the widget at the end
        self.errors: list[str] = []
        self._renderer = ChartRenderer()
        self._handle = None
        self._next_chart = 0.0

    def __call__(self, event: ev.Event) -> None:
        try:
            new_sweep = self.widget is None or self.end is not None
            if new_sweep and isinstance(event, (ev.Phase, ev.LRFindBegin)):
                self._start()
            super().__call__(event)
        except Exception as err:  # noqa: BLE001 - a broken view must not end the sweep
            self.errors.append(f"{type(err).__name__}: {err}")
            if len(self.errors) == 1:
                warnings.warn(f"jaxtext LR finder chart: {self.errors[0]} (the sweep goes on)",
                              RuntimeWarning, stacklevel=2)

    def _start(self) -> None:
        import ipywidgets as W

        self.begin, self.rows, self.end, self.svg, self.static_html = None, [], None, "", ""
        self.w = w = {
            "header": W.HTML("<b>LR finder</b>"),
            "status": W.HTML("starting…"),
            "stop": W.Button(description="Stop", icon="stop", button_style="warning",
                             tooltip="Stop the sweep now: the curve so far is kept",
                             layout=W.Layout(width="auto")),
            "chart": W.HTML(""),
        }
        w["stop"].on_click(self._on_stop_click)
        self.widget = W.VBox([w["header"], W.HBox([w["stop"], w["status"]],
                                                  layout=W.Layout(gap="8px")), w["chart"]],
                             layout=W.Layout(border=f"1px solid {report.BORDER}",
                                             padding="6px 10px", max_width="100%"))
        self.widget.add_class("jaxtext-lr-finder")
        if self.display or (self.display is None and in_kernel()):
            from IPython.display import display

            self._handle = display(self.widget, display_id=True)
        if route_to_subshell(w["stop"]) is None:
            w["stop"].tooltip = ("This kernel cannot take clicks while a cell runs: "
                                 "interrupt the kernel (■) to stop")
        self._renderer.warm_up()

    def _on_stop_click(self, button) -> None:  # on the subshell's thread: flags only
        if self.control is not None:
            self.control.request_stop(STOP_REASON)
        button.description, button.disabled = "Stopping…", True

    # ----------------------------------------------------------------------------- events

    def on_phase(self, event: ev.Phase) -> None:
        self.w["status"].value = report.esc(f"{event.detail}…")

    def on_lr_find_begin(self, event: ev.LRFindBegin) -> None:
        self.begin = event
        self.w["header"].value = (
            f'<b>LR finder</b> <span style="{report.MUTED}">· {report.esc(event.model)} on '
            f"{report.esc(event.data)} · lr {event.start_lr:g} → {event.end_lr:g} over at most "
            f"{event.steps} steps</span>")

    def on_lr_find_step(self, event: ev.LRFindStep) -> None:
        self.rows.append({"step": event.step, "lr": event.lr, "loss": event.loss,
                          "smoothed": event.smoothed})
        now = time.monotonic()
        steps = self.begin.steps if self.begin else event.step
        self.w["status"].value = report.esc(
            f"step {event.step}/{steps} · lr {event.lr:.2e} · smoothed loss {event.smoothed:.4f}")
        self._show(self._renderer.take())
        if now >= self._next_chart and self._renderer.idle():
            rows = list(self.rows)
            self._renderer.submit("chart", lambda: lr_find_chart(rows))
            self._next_chart = now + self.chart_every

    def on_lr_find_end(self, event: ev.LRFindEnd) -> None:
        self.end = event
        if self.widget is None:
            return
        self.w["stop"].layout.display = "none"
        if not self.rows:  # nothing swept: the error or Cancelled the caller gets says why
            self._renderer.close()
            if self._handle is not None:
                from IPython.display import HTML

                self._handle.update(HTML(""))
            return
        self._renderer.cancel()
        self._renderer.wait(timeout=10)
        self._renderer.take()
        rows = list(self.rows)
        self._renderer.submit("chart", lambda: lr_find_chart(rows, event.suggested))
        self._renderer.wait(timeout=30)
        self._show(self._renderer.take())
        self._renderer.close()
        found = (f"suggested lr <b>{event.suggested:.3g}</b>" if event.suggested is not None
                 else "no rate suggested")
        said = f"{found} · {event.steps} steps, {report.esc(event.status)}" + (
            f": {report.esc(event.message)}" if event.message else "")
        rule = report.esc(self.begin.rule) if self.begin else ""
        self.w["status"].value = said
        self.static_html = (f'<div class="jaxtext-lr-finder">{self.w["header"].value}'
                            f"<div>{said}</div>{self.svg}"
                            f'<div style="{report.MUTED}">{rule}</div></div>')
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self.static_html))
            _close_tree(self.widget)

    def _show(self, done: dict[str, str]) -> None:
        if "chart" in done:
            self.svg = self.w["chart"].value = done["chart"]
