"""The notebook view of ``jaxtext.compare``: every run's curve on one Altair chart (a colour per
run; training logs as lines, validation as dashed lines with points), then the final metrics and
the config keys that differ.

The core's ``Comparison`` finds ``comparison_html`` through the entry point
``jaxtext.views:comparison``. The chart is drawn offline and shown as a PNG, like the static
run summary, so it survives in saved and untrusted notebooks.
"""

from __future__ import annotations

from typing import Any

from .summary import png_html

_TITLES = {"step": "step", "epoch": "epoch", "time": "seconds since the start"}
WIDTH, HEIGHT = 520, 240


def comparison_chart(comparison: Any):
    """One ``alt.Chart`` of ``comparison.curves``: x = the alignment (step, epoch or seconds),
    y = the metric, colour = run, solid = training logs, dashed with points = validation.
    (Altair loads here, on first use: ~2.7 s that importing the widgets should not cost.)"""
    import altair as alt
    import pandas as pd

    from . import charts

    x = comparison.x
    frames = []
    for (_run, split), rows in comparison.curves.groupby(["run", "split"], sort=False):
        records = rows.to_dict("records")
        frames += charts.thin(records) if split == "train" else records
    data = pd.DataFrame(frames)
    base = alt.Chart(data).encode(
        x=alt.X(f"{x}:Q", title=_TITLES[comparison.by]),
        y=alt.Y("value:Q", title=comparison.metric, scale=alt.Scale(zero=False),
                axis=alt.Axis(format=".4~g", tickCount=5,
                              tickMinStep=charts.tick_step(data["value"].tolist()))),
        color=alt.Color("run:N", sort=list(comparison.runs),
                        legend=alt.Legend(orient="top", title=None)),
        detail="split:N",
        tooltip=["run:N", "split:N", "step:Q", alt.Tooltip("epoch:Q", format=".2f"),
                 alt.Tooltip("value:Q", title=comparison.metric, format=".4g")],
    )
    train = base.transform_filter(alt.datum.split == "train").mark_line(strokeWidth=1.5)
    validation = base.transform_filter(alt.datum.split == "validation").mark_line(
        point=True, strokeDash=[4, 2])
    return alt.layer(train, validation).properties(
        width=WIDTH, height=HEIGHT,
        title=f"{comparison.metric} by {comparison.by} (dashed: validation)")


def comparison_png(comparison: Any) -> bytes:
    """The chart as a PNG (drawn offline with vl-convert)."""
    from . import charts

    return charts.tile_png([[charts.svg_image(charts.to_svg(comparison_chart(comparison)))]])


def comparison_html(comparison: Any) -> str:
    """The chart, then the final-metrics table and the differing config keys."""
    return (f'<div class="jaxtext-compare">{png_html(comparison_png(comparison))}'
            f"{comparison.tables_html()}</div>")
