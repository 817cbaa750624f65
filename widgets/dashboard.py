"""The live training dashboard: one ipywidgets layout, built once, whose values change as events
arrive; a static HTML/SVG summary replaces it when the run ends.

Cost discipline (the loop calls ``on_step`` after every dispatched step):

* ``on_step`` is one ``time.monotonic()`` comparison until ``update_every`` seconds have passed;
  then it moves the progress bar and the status line (a few small comm messages).
* Charts are re-rendered only when their data changed, at most every ``chart_every`` seconds,
  one batch at a time, and only while the total render time stays under ``max_chart_share`` of
  the elapsed wall clock (epoch-end renders included: on a run of a few seconds the live charts
  may wait for the summary). The SVG is drawn on a worker thread (``_render.py``), which still
  takes CPU from the training: the share is that cost's ceiling (measured by
  ``benchmarks/bench_dashboard.py``).
* Nothing here reads a device array: events carry Python floats already.

Stop: the button's messages are routed to a kernel subshell (``_subshell.py``), so a click is
handled while the cell is busy, and it calls ``control.request_stop`` -- the trainer stops at the
next step boundary and keeps the weights. Without subshell support the kernel's interrupt (■) is
the way to stop, and the button's tooltip says so.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from jaxtext import events as ev
from jaxtext.callbacks import Callback

from . import charts, report
from ._render import ChartRenderer
from ._subshell import route_to_subshell
from .history import RunHistory
from .summary import summary_chart, summary_html, summary_tables_html, summary_top_html

STOP_REASON = "stopped from the dashboard"
_BAR_STYLES = {"completed": "success", "early_stopped": "success", "interrupted": "warning",
               "failed": "danger"}


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where widgets can be shown)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    return getattr(get_ipython(), "kernel", None) is not None


class Dashboard(Callback):
    """Live view of a training run in a notebook (``callbacks=["dashboard"]``, the default there).

    ``update_every``: seconds between progress updates; ``chart_every``: least seconds between
    chart renders; ``max_chart_share``: most of the wall clock spent rendering charts;
    ``display``: show the widget (``None``: only inside a kernel); ``summary``: at the end,
    replace the widget by a static summary that survives in saved notebooks.
    """

    def __init__(self, *, update_every: float = 0.25, chart_every: float = 1.0,
                 max_chart_share: float = 0.02, display: bool | None = None,
                 summary: bool = True):
        self.update_every = update_every
        self.chart_every = chart_every
        self.max_chart_share = max_chart_share
        self.display = display
        self.summary = summary
        self.history = RunHistory()
        self.widget = None  # the root VBox, built at on_train_begin
        self.w: dict[str, Any] = {}  # its parts by name
        self.stop_route: str | None = None  # subshell id when Stop works while busy
        self.stop_clicked = False
        self.summary_html = ""  # the static summary, as one HTML string, after the run
        self.errors: list[str] = []  # exceptions the view swallowed so training could go on
        self._renderer = ChartRenderer()
        self._handle = None
        self._step = 0
        self._t0 = time.monotonic()
        self._next_update = 0.0
        self._next_chart = 0.0
        self._rendered: dict[str, Any] = {}  # slot -> data key of the last submitted render
        self._log_clock = 0.0  # monotonic time of the last StepLog

    # ----------------------------------------------------------------------------- events

    def on_train_begin(self, event: ev.TrainBegin) -> None:
        self.history = RunHistory()
        self.history.update(event)
        self._t0 = time.monotonic()
        self._step, self._next_update, self._next_chart, self._rendered = 0, 0.0, 0.0, {}
        self.stop_clicked = False
        self.summary_html = ""
        self._build(event)
        self._renderer.warm_up()  # V8 starts while JAX compiles the first step
        if self.display or (self.display is None and in_kernel()):
            from IPython.display import display

            self._handle = display(self.widget, display_id=True)
        self.stop_route = route_to_subshell(self.w["stop"])
        if self.stop_route is None:
            self.w["stop"].tooltip = ("This kernel cannot take clicks while a cell runs: "
                                      "interrupt the kernel (■) to stop at the next step")
        self._refresh(time.monotonic(), charts_now=True)

    def on_log(self, event: ev.StepLog) -> None:
        self.history.update(event)
        self._step = max(self._step, event.step)
        self._log_clock = time.monotonic()
        if self._log_clock >= self._next_update:
            self._refresh(self._log_clock)

    def on_eval(self, event: ev.EvalResult) -> None:
        self.history.update(event)
        self._refresh(time.monotonic(), charts_now=True)

    def on_epoch_end(self, event: ev.EpochEnd) -> None:
        self.history.update(event)
        self._step = max(self._step, event.step)
        self._refresh(time.monotonic(), charts_now=True)

    def on_samples(self, event: ev.Samples) -> None:
        self.history.update(event)
        self._refresh(time.monotonic())

    def on_interrupt(self, event: ev.Interrupt) -> None:
        self.history.update(event)
        self._refresh(time.monotonic())

    def on_train_end(self, event: ev.TrainEnd) -> None:
        self.history.update(event)
        self._step = event.step
        if self.widget is None:
            return
        w = self.w
        w["progress"].bar_style = _BAR_STYLES.get(event.status, "")
        w["stop"].layout.display = "none"
        replace = self._handle is not None and self.summary
        if replace:
            self._refresh(time.monotonic())
            self._renderer.cancel()  # the widget is about to go: its last renders are moot
        else:  # the widget stays: bring every chart up to date, budget or not
            self._refresh(time.monotonic(), charts_now=True, force=True)
            self._renderer.wait(timeout=30)
            self._apply_renders()
        self._renderer.close()
        self.summary_html = self._summary_html()
        if replace:
            self._show_summary()

    # ----------------------------------------------------------------------------- errors

    def __call__(self, event: ev.Event) -> None:
        try:
            super().__call__(event)
        except Exception as err:  # noqa: BLE001 - a broken view must not end the training
            self._report(err)

    def on_step(self, step: int) -> None:
        if time.monotonic() < self._next_update:  # the hot path: one clock read
            return
        self._step = step
        try:
            self._refresh(time.monotonic())
        except Exception as err:  # noqa: BLE001
            self._report(err)

    def _report(self, err: Exception) -> None:
        self.errors.append(f"{type(err).__name__}: {err}")
        self._next_update = time.monotonic() + 5.0  # back off; the loop goes on regardless
        if len(self.errors) == 1:
            warnings.warn(f"jaxtext dashboard: {self.errors[0]} (training continues)",
                          RuntimeWarning, stacklevel=2)

    # ----------------------------------------------------------------------------- stop

    def _on_stop_click(self, button) -> None:
        # Runs on the kernel subshell's thread while training is busy: only thread-safe work.
        self.stop_clicked = True
        if self.control is not None:
            self.control.request_stop(STOP_REASON)
        button.description = "Stopping…"
        button.disabled = True

    # ----------------------------------------------------------------------------- layout

    def _build(self, begin: ev.TrainBegin) -> None:
        import ipywidgets as W

        lm = begin.task == "lm"
        hidden = W.Layout(display="none")
        w = self.w = {
            "header": W.HTML(report.header_html(begin)),
            "progress": W.IntProgress(value=0, min=0, max=max(1, begin.total_steps),
                                      layout=W.Layout(width="320px")),
            "status": W.HTML(""),
            "stop": W.Button(description="Stop", icon="stop", button_style="warning",
                             tooltip="Stop at the next step and keep the weights",
                             layout=W.Layout(width="auto")),
            "metrics": W.HTML(report.metrics_line_html(None, None)),
            "loss": W.HTML(""),
            "validation": W.HTML(""),
            "lr": W.HTML(""),
            "confusion": W.HTML(""),
            "per_class": W.HTML(""),
            "examples": W.HTML(""),
            "samples": W.HTML(""),
            "message": W.HTML(""),
        }
        for name, part in w.items():
            part.add_class(f"jaxtext-{name.replace('_', '-')}")  # stable hooks for tests / CSS
        w["stop"].on_click(self._on_stop_click)
        w["charts"] = W.HBox([W.VBox([w["loss"], w["lr"]]), w["validation"]],
                             layout=W.Layout(flex_flow="row wrap", gap="24px"))
        w["classes"] = W.HBox([w["confusion"], w["per_class"]],
                              layout=hidden if lm else W.Layout(gap="16px",
                                                                align_items="flex-start"))
        w["examples"].layout = W.Layout(display="none")
        w["samples"].layout = W.Layout(display="none")
        self.widget = W.VBox([
            w["header"],
            W.HBox([w["progress"], w["status"], w["stop"]],
                   layout=W.Layout(align_items="center", gap="8px")),
            w["metrics"], w["message"], w["charts"], w["classes"], w["examples"], w["samples"],
        ], layout=W.Layout(border=f"1px solid {report.BORDER}", padding="6px 10px"))
        self.widget.add_class("jaxtext-dashboard")

    # ----------------------------------------------------------------------------- updates

    def _refresh(self, now: float, charts_now: bool = False, force: bool = False) -> None:
        """Progress values every call; charts when due (``charts_now``: new data worth showing
        soon) and within the render budget (``force``: regardless); tables when changed."""
        if self.widget is None:
            return
        self._next_update = now + self.update_every
        h, w, begin = self.history, self.w, self.history.begin
        log = h.last_log
        eta = None
        if log is not None:
            eta = max(0.0, log.eta_s - (now - self._log_clock)) if self._log_clock else log.eta_s
        epoch = log.epoch if log else 1
        if self._step and begin.steps_per_epoch:
            epoch = min(begin.epochs, (self._step - 1) // begin.steps_per_epoch + 1)
        elapsed = h.end.elapsed_s if h.end else now - self._t0
        with self.widget.hold_sync():
            w["progress"].value = min(self._step, w["progress"].max)
            w["status"].value = report.esc(report.status_text(
                step=self._step, total=begin.total_steps, epoch=epoch, epochs=begin.epochs,
                examples_per_s=log.examples_per_s if log else None, elapsed_s=elapsed,
                eta_s=0.0 if h.end else eta))
            val = h.validation_rows[-1] if h.validation_rows else None
            w["metrics"].value = report.metrics_line_html(
                log, {k: v for k, v in (val or {}).items()
                      if k not in ("kind", "step", "epoch", "elapsed_s")}, h.best_epoch)
            if h.end is not None:
                w["message"].value = report.end_html(h.end, h.interrupt)
            elif h.interrupt is not None:
                w["message"].value = (f"<div>stopping at step {h.interrupt.step:,}: "
                                      f"{report.esc(h.interrupt.reason)}…</div>")
            self._refresh_tables()
        self._apply_renders()
        # A render the budget defers is retried at every refresh: _next_chart only moves on
        # when a batch is submitted.
        if force or charts_now or now >= self._next_chart:
            self._submit_charts(now, force)

    def _within_budget(self, now: float, slots: list[str]) -> bool:
        """Rendering ``slots`` too keeps the total render time within its share of the wall
        clock so far."""
        cost = self._renderer.seconds_spent() + self._renderer.expected_seconds(slots)
        return cost <= self.max_chart_share * (now - self._t0)

    def _refresh_tables(self) -> None:
        h, w = self.history, self.w
        rep = h.report
        key = id(rep), len(h.samples)
        if self._rendered.get("tables") == key:
            return
        self._rendered["tables"] = key
        if rep is not None and rep.per_class:
            w["per_class"].value = report.section(f"per class ({rep.split}, epoch {rep.epoch})",
                                                  report.per_class_html(rep.per_class))
        if rep is not None and rep.examples:
            w["examples"].value = report.section(
                "most confident mistakes", report.misclassified_html(rep.examples,
                                                                     rep.label_names))
            w["examples"].layout.display = ""
        if h.samples:
            w["samples"].value = report.samples_html(h.samples)
            w["samples"].layout.display = ""

    def _submit_charts(self, now: float, force: bool = False) -> None:
        if not force and not self._renderer.idle():  # one batch at a time
            return
        h = self.history
        rows = list(h.rows)  # snapshot: the worker must not see later appends
        n_train = sum(r["kind"] == "train" for r in rows)
        n_val = len(rows) - n_train
        jobs = {
            "loss": ((n_train, n_val), lambda: charts.loss_chart(rows)),
            "validation": (n_val, lambda: charts.metrics_chart(rows)),
            "lr": (n_train, lambda: charts.lr_chart(rows, height=60)),
        }
        rep = h.report
        if rep is not None and rep.confusion_matrix:
            title = f"confusion matrix ({rep.split}, epoch {rep.epoch})"
            jobs["confusion"] = (id(rep), lambda: charts.confusion_chart(
                rep.confusion_matrix, rep.label_names, title=title))
        stale = [slot for slot, (key, _) in jobs.items() if self._rendered.get(slot) != key]
        if not rows or not stale or not force and not self._within_budget(now, stale):
            return
        for slot in stale:
            key, build = jobs[slot]
            self._rendered[slot] = key
            self._renderer.submit(slot, build)
        self._next_chart = now + self.chart_every

    def _apply_renders(self) -> None:
        done = self._renderer.take()
        if not done:
            return
        with self.widget.hold_sync():
            for slot, svg in done.items():
                self.w[slot].value = svg

    # ----------------------------------------------------------------------------- summary

    def _summary_html(self) -> str:
        try:
            self._summary_svg = charts.to_svg(summary_chart(self.history))
        except Exception as err:  # noqa: BLE001 - a summary without charts beats none
            self._summary_svg = f"<pre>charts failed: {report.esc(err)}</pre>"
        return summary_html(self.history, self._summary_svg)

    def _show_summary(self) -> None:
        """Replace the live widget by static outputs: HTML head, one SVG of all charts, HTML
        tables. SVG goes out as ``image/svg+xml`` (kept by every renderer, trusted or not)."""
        from IPython.display import HTML, SVG, display

        self._handle.update(HTML(summary_top_html(self.history)))
        if self._summary_svg.startswith("<svg"):
            display(SVG(self._summary_svg))
        tables = summary_tables_html(self.history)
        if tables:
            display(HTML(tables))
        _close_tree(self.widget)
        self.widget = None


def _close_tree(widget) -> None:
    """Close a widget and everything inside it (``Widget.close_all`` would close every widget)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
