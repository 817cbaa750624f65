"""The live training dashboard: one ipywidgets layout, built at the run's first event, whose
values change as events arrive; a static summary replaces it when the run ends. Both lay out the
panels declared in ``panels.py``; what the run knows is the core's ``jaxtext.History`` fold.

No phase is silent: the dashboard appears while the data is prepared, and its status line says
what the run is doing (preparing data, compiling, training, evaluating, sampling) with a clock
that keeps moving -- the trainer ticks ``on_step`` while it waits on a worker.

Cost discipline (``on_step`` runs after every step):

* ``on_step`` is one ``time.monotonic()`` comparison until ``update_every`` seconds have passed;
  then it moves the progress bar and the status line (a few small comm messages).
* Chart panels are re-rendered only when an event that feeds them arrived, at most every
  ``chart_every`` seconds, one batch at a time, and only while the total render time stays under
  ``max_chart_share`` of the elapsed wall clock. The SVG is drawn on a worker thread
  (``_render.py``), which still takes CPU from the training: the share is that cost's ceiling
  (``benchmarks/bench_dashboard.py``; a ``first_render_s`` allowance for short runs measured
  +4 % on a 2.5 s run, so short runs get a sparkline of the loss in the metrics line instead,
  drawn in Python in ~0.2 ms, and their charts in the summary).
* Nothing here reads a device array: events carry Python floats already.

Stop: the button's messages are routed to a kernel subshell (``_subshell.py``), so a click is
handled while the cell is busy, and it calls ``control.request_stop`` -- the trainer stops within
a step or two (or abandons a compile or the data preparation at once) and keeps the weights.
Without subshell support the kernel's interrupt (■) is the way to stop, and the tooltip says so.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from jaxtext import Callback, History
from jaxtext import events as ev

from . import report
from ._render import ChartRenderer
from ._subshell import route_to_subshell
from .panels import layout
from .summary import summary_html, summary_png, summary_tables_html, summary_top_html

STOP_REASON = "stopped from the dashboard"
_BAR_STYLES = {"completed": "success", "early_stopped": "success", "interrupted": "warning",
               "cancelled": "warning", "failed": "danger"}


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
                 max_chart_share: float = 0.02, first_render_s: float = 0.0,
                 display: bool | None = None, summary: bool = True):
        self.update_every = update_every
        self.chart_every = chart_every
        self.max_chart_share = max_chart_share
        self.first_render_s = first_render_s
        self.display = display
        self.summary = summary
        self.history = History()
        self.widget = None  # the root VBox, built at the run's first event
        self.w: dict[str, Any] = {}  # its parts by name (panels by panel name)
        self.rows: dict[str, Any] = {}  # panel rows by row name (see panels.py)
        self.stop_route: str | None = None  # subshell id when Stop works while busy
        self.stop_clicked = False
        self.summary_html = ""  # the static summary, as one HTML string, after the run
        self.errors: list[str] = []  # exceptions the view swallowed so training could go on
        self._renderer = ChartRenderer()
        self._handle = None
        self._reset()

    def _reset(self) -> None:
        self._step = 0
        self._t0 = time.monotonic()
        self._next_update = 0.0
        self._next_chart = 0.0
        self._rendered: dict[str, Any] = {}  # panel -> stale key of its last draw / render
        self._log_clock = 0.0  # monotonic time of the last StepLog
        self._compiles: list[tuple[float, bool]] = []  # (seconds, from the cache) per compile
        self._svgs: dict[str, tuple[Any, str]] = {}  # panel -> (stale key, SVG) shown live

    # ----------------------------------------------------------------------------- events

    def __call__(self, event: ev.Event) -> None:
        try:
            if self.widget is None and not isinstance(event, ev.TrainEnd):
                self._start(event)
            self.history.update(event)
            super().__call__(event)
        except Exception as err:  # noqa: BLE001 - a broken view must not end the training
            self._report(err)

    def _start(self, first: ev.Event) -> None:
        """The run's first event (its data being prepared, or a TrainBegin): show the widget."""
        self.history = History()
        self._reset()
        self.stop_clicked = False
        self.summary_html = ""
        self._build()
        if self.display or (self.display is None and in_kernel()):
            from IPython.display import display

            self._handle = display(self.widget, display_id=True)
        self.stop_route = route_to_subshell(self.w["stop"])
        if self.stop_route is None:
            self.w["stop"].tooltip = ("This kernel cannot take clicks while a cell runs: "
                                      "interrupt the kernel (■) to stop")
        # After the widget is out: loading Altair and starting V8 take seconds of the GIL,
        # done while the data is prepared and JAX compiles.
        self._renderer.warm_up()

    def on_train_begin(self, event: ev.TrainBegin) -> None:
        import ipywidgets as W

        w = self.w
        w["header"].value = report.header_html(event)
        w["progress"].max = max(1, event.total_steps)
        w["progress"].value = self._step = event.resumed_at
        self.panels = layout(event.task)
        for row, panels in self.panels.items():
            for panel in panels:  # hidden until it has something to show
                w[panel.name] = W.HTML("", layout=W.Layout(display="none"))
                w[panel.name].add_class(f"jaxtext-{panel.name.replace('_', '-')}")
            self.rows[row] = W.HBox([w[p.name] for p in panels], layout=W.Layout(
                flex_flow="row wrap", gap="16px 24px", align_items="flex-start",
                max_width="100%"))
            self.rows[row].add_class(f"jaxtext-row-{row}")
        self.widget.children = (*self.widget.children, *self.rows.values())
        self._refresh(time.monotonic(), charts_now=True)

    def on_phase(self, event: ev.Phase) -> None:
        if event.name == "compile" and event.took_s:
            self._compiles.append((event.took_s, event.cached))
        self._refresh(time.monotonic())

    def on_log(self, event: ev.StepLog) -> None:
        self._step = max(self._step, event.step)
        self._log_clock = time.monotonic()
        if self._log_clock >= self._next_update:
            self._refresh(self._log_clock)

    def on_eval(self, event: ev.EvalResult) -> None:
        self._refresh(time.monotonic(), charts_now=True)

    def on_epoch_end(self, event: ev.EpochEnd) -> None:
        self._step = max(self._step, event.step)
        self._refresh(time.monotonic(), charts_now=True)

    def on_samples(self, event: ev.Samples) -> None:
        self._refresh(time.monotonic())

    def on_interrupt(self, event: ev.Interrupt) -> None:
        self._refresh(time.monotonic())

    def on_train_end(self, event: ev.TrainEnd) -> None:
        self._step = event.step
        if self.widget is None:
            return
        if self.history.begin is None and event.status == "failed":
            self._withdraw()  # the data could not be prepared: the error raised says why
            return
        w = self.w
        w["progress"].bar_style = _BAR_STYLES.get(event.status, "")
        w["stop"].layout.display = "none"  # no live-looking button once the run is over
        replace = self._handle is not None and self.summary
        if replace:
            self._refresh(time.monotonic())
            self._renderer.cancel()  # the widget is about to go: its last renders are moot
            self._renderer.wait(timeout=5)  # one in progress: it may still be reused
            self._apply_renders()
        else:  # the widget stays: bring every chart up to date, budget or not
            self._refresh(time.monotonic(), charts_now=True, force=True)
            self._renderer.wait(timeout=30)
            self._apply_renders()
        self._renderer.close()
        try:
            self._summary_png = summary_png(self.history, self._svgs)
        except Exception as err:  # noqa: BLE001 - a summary without charts beats none
            self._summary_png = None
            self._report(err)
        self.summary_html = summary_html(self.history, self._summary_png)
        if replace:
            self._show_summary()

    # ----------------------------------------------------------------------------- errors

    def on_step(self, step: int) -> None:
        if time.monotonic() < self._next_update:  # the hot path: one clock read
            return
        self._step = max(self._step, step)
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

    def _build(self) -> None:
        import ipywidgets as W

        w = self.w = {
            "header": W.HTML('<b style="font-size:1.15em">jaxtext</b>'),
            "progress": W.IntProgress(value=0, min=0, max=1,
                                      layout=W.Layout(width="min(320px, 40%)")),
            "status": W.HTML(""),
            "stop": W.Button(description="Stop", icon="stop", button_style="warning",
                             tooltip="Stop now: training keeps the weights of the last step",
                             layout=W.Layout(width="auto", flex="0 0 auto")),
            "metrics": W.HTML(report.metrics_line_html(None, None)),
            "message": W.HTML(""),
        }
        for name, part in w.items():
            part.add_class(f"jaxtext-{name.replace('_', '-')}")  # stable hooks for tests / CSS
        w["stop"].on_click(self._on_stop_click)
        self.panels, self.rows = {}, {}
        self.widget = W.VBox([
            w["header"],
            # Stop sits beside the fixed-width bar, before the status text: after the text, the
            # button moved whenever the text's width changed (~20 times a second with very
            # short epochs), a moving target; a browser test's click on it once went unhandled
            W.HBox([w["progress"], w["stop"], w["status"]],
                   layout=W.Layout(align_items="center", gap="8px", flex_flow="row wrap")),
            w["metrics"], w["message"],
        ], layout=W.Layout(border=f"1px solid {report.BORDER}", padding="6px 10px",
                           max_width="100%"))
        self.widget.add_class("jaxtext-dashboard")

    # ----------------------------------------------------------------------------- updates

    def _refresh(self, now: float, charts_now: bool = False, force: bool = False) -> None:
        """Progress values every call; charts when due (``charts_now``: new data worth showing
        soon) and within the render budget (``force``: regardless); tables when changed."""
        if self.widget is None:
            return
        self._next_update = now + self.update_every
        h, w = self.history, self.w
        with self.widget.hold_sync():
            w["progress"].value = min(self._step, w["progress"].max)
            w["status"].value = report.esc(self._status_text(now))
            val = h.validation_rows[-1] if h.validation_rows else None
            sampled = {split: e.sampled for split, e in h.evals.items()}
            w["metrics"].value = report.metrics_line_html(
                h.last_log, {k: v for k, v in (val or {}).items()
                             if k not in ("kind", "step", "epoch", "elapsed_s")}, h.best_epoch,
                sampled.get("validation", 0),
                [r["loss"] for r in h.rows if r["kind"] == "train"])
            if h.end is not None:
                w["message"].value = report.end_html(h.end, h.interrupt,
                                                      sampled.get("test", 0))
            elif h.interrupt is not None:
                w["message"].value = (f"<div>stopping at step {h.interrupt.step:,}: "
                                      f"{report.esc(h.interrupt.reason)}…</div>")
            elif self._compiles:
                w["message"].value = f'<div style="{report.MUTED};font-size:12px">' \
                                     f"{report.esc(report.compiles_text(self._compiles))}</div>"
            self._refresh_html_panels()
        self._apply_renders()
        # A render the budget defers is retried at every refresh: _next_chart only moves on
        # when a batch is submitted.
        if force or charts_now or now >= self._next_chart:
            self._submit_charts(now, force)

    def _status_text(self, now: float) -> str:
        """What the run is doing now, with a clock that moves even while nothing else does."""
        h, begin, phase = self.history, self.history.begin, self.history.phase
        elapsed = h.end.elapsed_s if h.end else (phase.elapsed_s if phase else 0.0) + (
            now - self._phase_clock(phase))
        if h.end is not None or begin is None or phase is None or phase.name == "train":
            log = h.last_log
            eta = None
            if log is not None and h.end is None:
                eta = max(0.0, log.eta_s - (now - self._log_clock)) if self._log_clock \
                    else log.eta_s
            if begin is None:
                return f"{phase.detail if phase else 'starting'}… · {report.fmt_time(elapsed)}"
            epoch = min(begin.epochs, max(1, (self._step - 1) // max(1, begin.steps_per_epoch)
                                          + 1)) if self._step else 1
            return report.status_text(
                step=self._step, total=begin.total_steps, epoch=epoch, epochs=begin.epochs,
                examples_per_s=log.examples_per_s if log else None, elapsed_s=elapsed,
                eta_s=0.0 if h.end else eta)
        epoch = min(begin.epochs, max(1, (self._step - 1) // max(1, begin.steps_per_epoch)
                                      + 1)) if self._step else 1
        if phase.name == "compile" and not phase.detail.startswith("compiling"):
            return report.status_text(
                step=self._step, total=begin.total_steps, epoch=epoch, epochs=begin.epochs,
                examples_per_s=h.last_log.examples_per_s if h.last_log else None,
                elapsed_s=elapsed, eta_s=None)
        return (f"epoch {epoch}/{begin.epochs} · {phase.detail}… · {report.fmt_time(elapsed)} "
                "elapsed")

    def _phase_clock(self, phase: ev.Phase | None) -> float:
        """When the current phase event arrived (monotonic), so the clock runs on from it."""
        if phase is None:
            return self._t0
        if getattr(self, "_phase_seen", None) is not phase:
            self._phase_seen, self._phase_at = phase, time.monotonic()
        return self._phase_at

    def _within_budget(self, now: float, slots: list[str]) -> bool:
        """Rendering ``slots`` too keeps the total render time within its share of the wall
        clock so far (plus a small first allowance, so a short run shows curves too)."""
        cost = self._renderer.seconds_spent() + self._renderer.expected_seconds(slots)
        return cost <= self.first_render_s + self.max_chart_share * (now - self._t0)

    def _panels(self, kind: str):
        return [p for row in self.panels.values() for p in row if p.kind == kind]

    def _refresh_html_panels(self) -> None:
        """HTML panels are cheap: redraw each one whose feeding events arrived."""
        for panel in self._panels("html"):
            key = panel.stale_key(self.history)
            if self._rendered.get(panel.name) == key:
                continue
            self._rendered[panel.name] = key
            self._show(panel.name, panel.draw(self.history, panel.title))

    def _submit_charts(self, now: float, force: bool = False) -> None:
        """Send the stale chart panels to the renderer, one batch at a time, within budget."""
        if not force and not self._renderer.idle():
            return
        h = self.history
        stale = {p.name: p for p in self._panels("chart")
                 if self._rendered.get(p.name) != p.stale_key(h)}
        if not stale or not force and not self._within_budget(now, list(stale)):
            return
        snapshot = h.snapshot()  # the worker must not see later events
        for name, panel in stale.items():
            self._rendered[name] = panel.stale_key(h)
            self._renderer.submit(name, lambda p=panel: p.draw(snapshot, p.title))
        self._next_chart = now + self.chart_every

    def _apply_renders(self) -> None:
        done = self._renderer.take()
        if not done:
            return
        with self.widget.hold_sync():
            for name, svg in done.items():
                self._svgs[name] = (self._rendered.get(name), svg)  # the summary may reuse it
                self._show(name, svg)

    def _show(self, name: str, content: str | None) -> None:
        part = self.w[name]
        if content:
            part.value = content
        part.layout.display = "" if part.value else "none"

    # ----------------------------------------------------------------------------- summary

    def _show_summary(self) -> None:
        """Replace the live widget by static outputs a saved notebook keeps everywhere: the
        header as HTML, the charts as one PNG (shown trusted or not), the tables as HTML."""
        from IPython.display import HTML, Image, display

        from .summary import png_width

        self._handle.update(HTML(f'<div class="jaxtext-summary">'
                                 f"{summary_top_html(self.history)}</div>"))
        if self._summary_png:
            display(Image(data=self._summary_png, format="png",
                          width=png_width(self._summary_png) // 2))
        tables = summary_tables_html(self.history)
        if tables:
            display(HTML(tables))
        _close_tree(self.widget)
        self.widget = None


    def _withdraw(self) -> None:
        """Take the widget away altogether (nothing was trained, nothing to keep)."""
        self._renderer.close()
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(""))
        _close_tree(self.widget)
        self.widget = None


def _close_tree(widget) -> None:
    """Close a widget and everything inside it (``Widget.close_all`` would close every widget)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
