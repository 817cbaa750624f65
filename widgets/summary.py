"""The static end-of-run summary: what stays in the notebook when no kernel (or no widget state)
is around -- on GitHub, nbviewer, or after a restart.

``summary_top_html`` + one SVG of ``summary_chart`` + ``summary_tables_html``; the dashboard shows
them as three outputs (the SVG as ``image/svg+xml``, which untrusted notebooks keep), and
``summary_html`` joins them into one HTML string (inline SVG) for ``Run._repr_html_``.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from jaxtext import events as ev

from . import charts, report
from .history import RunHistory


def summary_chart(history: RunHistory) -> alt.TopLevelMixin:
    """All the run's charts in one, laid out as in the dashboard: loss over learning rate, then
    validation metrics, then the confusion matrix of the final evaluation (classifiers)."""
    rows = history.rows
    curves = alt.vconcat(charts.loss_chart(rows), charts.lr_chart(rows, height=60), spacing=8)
    top = alt.hconcat(curves, charts.metrics_chart(rows), spacing=24).resolve_scale(
        color="independent", strokeDash="independent")
    rep = history.report
    if rep is not None and rep.confusion_matrix:
        cm = charts.confusion_chart(rep.confusion_matrix, rep.label_names,
                                    title=f"confusion matrix ({rep.split})")
        return alt.vconcat(top, cm, spacing=16).resolve_scale(color="independent")
    return top


def summary_top_html(history: RunHistory) -> str:
    """Header, a static progress bar and the final status line."""
    begin, end = history.begin, history.end
    if begin is None:
        return ""
    step = end.step if end else (history.last_log.step if history.last_log else 0)
    status = end.status if end else "running"
    label = f"step {step:,}/{begin.total_steps:,}"
    if end is not None:
        label += f" · {report.fmt_time(end.elapsed_s)}"
    if history.last_log is not None:
        label += f" · {history.last_log.examples_per_s:,.0f} ex/s"
    parts = [report.header_html(begin),
             report.progress_bar_html(step / max(1, begin.total_steps), status, label)]
    if end is not None:
        parts.append(report.end_html(end, history.interrupt))
    val = history.validation_rows
    if val:
        best = next((r for r in val if r["epoch"] == history.best_epoch), val[-1])
        metrics = {k: v for k, v in best.items() if k not in ("kind", "step", "epoch",
                                                               "elapsed_s")}
        parts.append(f"<div><b>validation</b> (epoch {best['epoch']}) "
                     + " ".join(f"{report.esc(k)} {report.fmt_metric(v)}"
                                for k, v in metrics.items()) + "</div>")
    return f'<div class="jaxtext-summary" style="margin:4px 0">{"".join(parts)}</div>'


def summary_tables_html(history: RunHistory) -> str:
    """Per-class table and mistakes (classifiers) or the epoch samples (language models)."""
    parts = []
    rep = history.report
    if rep is not None and rep.per_class:
        parts.append(report.section(f"per class ({rep.split})",
                                    report.per_class_html(rep.per_class)))
    if rep is not None and rep.examples:
        parts.append(report.section(f"most confident mistakes ({rep.split})",
                                    report.misclassified_html(rep.examples, rep.label_names)))
    if history.samples:
        parts.append(report.samples_html(history.samples))
    return "".join(parts)


def summary_html(history: RunHistory, svg: str | None = None) -> str:
    """The whole summary as one HTML string (charts inline as SVG)."""
    if svg is None:
        svg = charts.to_svg(summary_chart(history))
    return summary_top_html(history) + f"<div>{svg}</div>" + summary_tables_html(history)


def history_from_run(run: Any) -> RunHistory:
    """Rebuild a ``RunHistory`` from a finished ``Run`` (its history rows, config, test report)."""
    h = RunHistory()
    rows = run.history
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    for row in rows:
        clean = {k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}
        h.rows.append(clean)
        if clean.get("kind") == "train":
            h.last_log = ev.StepLog(
                step=int(clean["step"]), epoch=int(clean["epoch"]), total_steps=0,
                examples_seen=0, examples_per_s=float(clean.get("examples_per_s") or 0.0),
                elapsed_s=float(clean.get("elapsed_s") or 0.0), eta_s=0.0,
                lr=float(clean.get("lr") or 0.0), loss=float(clean["loss"]),
                accuracy=clean.get("accuracy"))
    test_report = getattr(run, "test_report", None)
    if isinstance(test_report, ev.EvalResult):
        h.evals[test_report.split] = test_report
    return h


def run_summary_html(run: Any) -> str:
    """HTML summary of a finished ``Run`` (for ``Run._repr_html_``): name, model, charts of its
    history, and for classifiers the test confusion matrix and per-class table."""
    h = history_from_run(run)
    config = getattr(run, "config", None)
    name = getattr(run, "name", "") or "run"
    steps = int(getattr(run, "steps", 0) or (h.last_log.step if h.last_log else 0))
    status = getattr(run, "status", "completed") or "completed"
    h.begin = ev.TrainBegin(
        run_name=name, task=getattr(config, "task", "classify"),
        model=getattr(config, "model", "?"), data=str(getattr(config, "data", "?")),
        config={}, num_params=int(getattr(run, "num_params", 0) or 0), devices=[],
        dataset_sizes={}, label_names=list(getattr(run, "label_names", []) or []),
        epochs=int(getattr(config, "epochs", 1) or 1), steps_per_epoch=0, total_steps=steps,
        batch_size=int(getattr(config, "batch_size", 0) or 0))
    timing = getattr(run, "timing", None) or {}
    test = getattr(run, "test_report", None)
    h.end = ev.TrainEnd(step=steps, elapsed_s=float(timing.get("total_s", 0.0)), status=status,
                        message="", test=dict(test.metrics) if test is not None else None)
    return summary_html(h)
