"""The static end-of-run summary: what stays in the notebook when no kernel (or no widget state)
is around -- on GitHub, nbviewer, nbconvert HTML, in a colleague's untrusted notebook.

Three outputs, from the same panels as the live dashboard (``panels.py``): the header (how the
run ended) as HTML, every chart panel in one PNG laid out row by row as in the dashboard (PNG is
shown by every front end, trusted or not, with no JavaScript and no network; SVG is not in an
untrusted notebook), then the HTML panels (per-class table, mistakes, samples).
``summary_html`` joins them into one HTML string (the PNG inline) for ``run_summary_html(run)``.
"""

from __future__ import annotations

import base64
from typing import Any

from jaxtext import History

from . import report
from .panels import PANELS, Panel, layout


def summary_png(history: History, svgs: dict[str, tuple[Any, str]] | None = None,
                panels: tuple[Panel, ...] = PANELS) -> bytes | None:
    """All chart panels as one PNG, in the dashboard's rows; None if none has data.

    ``svgs``: panel name -> (stale key, SVG) the live dashboard already rendered; a panel
    whose data has not changed since is reused, so a stopped run's summary only draws what
    moved (the loss curve, usually) and the cell is idle sooner.
    """
    from . import charts

    rows = []
    for row in layout(history.task, panels).values():
        images = []
        for panel in row:
            if panel.kind != "chart":
                continue
            key, svg = (svgs or {}).get(panel.name, (None, ""))
            if key != panel.stale_key(history) or not svg:
                chart = panel.draw(history, panel.title)
                svg = charts.to_svg(chart) if chart is not None else ""
            if svg:
                images.append(charts.svg_image(svg))
        if images:
            rows.append(images)
    return charts.tile_png(rows) if rows else None


def summary_top_html(history: History) -> str:
    """Header, a static progress bar and the final status line."""
    begin, end = history.begin, history.end
    test_sampled = history.evals["test"].sampled if "test" in history.evals else 0
    if begin is None:  # stopped or failed while the data was prepared
        return report.end_html(end, history.interrupt) if end is not None else ""
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
        parts.append(report.end_html(end, history.interrupt, test_sampled))
    val = history.validation_rows
    if val:
        best = next((r for r in val if r["epoch"] == history.best_epoch), val[-1])
        sampled = history.evals["validation"].sampled if "validation" in history.evals else 0
        sample = f", a sample of {sampled:,}" if sampled else ""
        parts.append(f"<div><b>validation</b> (epoch {best['epoch']}{sample}) "
                     + " ".join(f"{report.esc(k)} {report.fmt_metric(v)}"
                                for k, v in history.best_validation.items()) + "</div>")
    return "".join(parts)


def summary_tables_html(history: History, panels: tuple[Panel, ...] = PANELS) -> str:
    """The HTML panels that have something to show, in the dashboard's order."""
    parts = []
    for row in layout(history.task, panels).values():
        for panel in row:
            if panel.kind == "html":
                content = panel.draw(history, panel.title)
                if content:
                    parts.append(f'<div class="jaxtext-{panel.name.replace("_", "-")}" '
                                 f'style="margin-top:6px">{content}</div>')
    return "".join(parts)


def png_html(png: bytes | None) -> str:
    """An inline <img> of a PNG, at half its pixel size (it is rendered at scale 2)."""
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<img class="jaxtext-charts" alt="training charts" '
            f'src="data:image/png;base64,{data}" style="max-width:100%;height:auto" '
            f'width="{png_width(png) // 2}">')


def png_width(png: bytes) -> int:
    """Pixel width from the PNG header (IHDR), without decoding the image."""
    return int.from_bytes(png[16:20], "big")


def summary_html(history: History, png: bytes | None = None) -> str:
    """The whole summary as one HTML string (the charts as an inline PNG)."""
    if png is None:
        png = summary_png(history)
    return (f'<div class="jaxtext-summary" style="margin:4px 0">{summary_top_html(history)}'
            f"{png_html(png)}{summary_tables_html(history)}</div>")


def run_summary_html(run: Any) -> str:
    """HTML summary of a finished or loaded ``Run``, drawn from its ``History`` (``run.record``)."""
    return summary_html(run.record)
