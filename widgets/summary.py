"""The static end-of-run summary: what stays in the notebook when no kernel (or no widget state)
is around -- on GitHub, nbviewer, or after a restart.

It lays out the same panels as the live dashboard (``panels.py``), row by row: a header with a
static progress bar and how the run ended, then each panel's chart (inline SVG) or HTML. The
dashboard shows it in place of the widget when a run ends; ``run_summary_html(run)`` draws it for
any finished or loaded ``Run`` from the run's own ``History``.
"""

from __future__ import annotations

from typing import Any

from jaxtext import History

from . import charts, report
from .panels import PANELS, Panel, layout


def render_panels(history: History, panels: tuple[Panel, ...] = PANELS) -> dict[str, str]:
    """SVG of every chart panel that has something to show, by panel name."""
    out = {}
    for row in layout(history.task, panels).values():
        for panel in row:
            if panel.kind == "chart":
                chart = panel.draw(history, panel.title)
                if chart is not None:
                    out[panel.name] = charts.to_svg(chart)
    return out


def summary_top_html(history: History) -> str:
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
        parts.append(f"<div><b>validation</b> (epoch {best['epoch']}) "
                     + " ".join(f"{report.esc(k)} {report.fmt_metric(v)}"
                                for k, v in history.best_validation.items()) + "</div>")
    return "".join(parts)


def summary_html(history: History, rendered: dict[str, str] | None = None,
                 panels: tuple[Panel, ...] = PANELS) -> str:
    """The whole summary as one HTML string; ``rendered``: chart SVGs already drawn, by name."""
    if rendered is None:
        rendered = render_panels(history, panels)
    rows = []
    for row, row_panels in layout(history.task, panels).items():
        cells = []
        for panel in row_panels:
            content = rendered.get(panel.name) if panel.kind == "chart" \
                else panel.draw(history, panel.title)
            if content:
                name = panel.name.replace("_", "-")
                cells.append(f'<div class="jaxtext-{name}">{content}</div>')
        if cells:
            rows.append(f'<div class="jaxtext-row-{row}" style="display:flex;flex-wrap:wrap;'
                        f'gap:16px 24px;align-items:flex-start;margin-top:6px">'
                        + "".join(cells) + "</div>")
    return (f'<div class="jaxtext-summary" style="margin:4px 0">{summary_top_html(history)}'
            + "".join(rows) + "</div>")


def run_summary_html(run: Any) -> str:
    """HTML summary of a finished or loaded ``Run``, drawn from its ``History`` (``run.record``)."""
    return summary_html(run.record)
