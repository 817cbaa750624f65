"""The LR finder's chart, a pure function: sweep rows -> ``alt.Chart`` (testable by its spec).

Loss against learning rate on a log x axis: each step's loss faint, the smoothed loss solid,
and, once the sweep has one, a red rule at the suggested rate with its value as a label. The
y axis stops a little above the smoothed curve's start, so the blow-up at the end (losses
of 30 where the curve lives near 0.7) does not flatten the part that matters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

WIDTH, HEIGHT = 420, 220
SUGGESTED_COLOR = "#c62828"


def y_range(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """(low, high) of the y axis: from the lowest loss to where the smoothed curve was highest
    before its minimum, plus half that again for the climb after it (the rest is clipped).

    >>> y_range([{"loss": 1.0, "smoothed": 1.0}, {"loss": 0.5, "smoothed": 0.8},
    ...          {"loss": 40.0, "smoothed": 9.0}])
    (0.4625, 1.2875)
    """
    smoothed = [r["smoothed"] for r in rows]
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    top = max(smoothed[: lowest + 1])
    low = min(min(r["loss"] for r in rows), smoothed[lowest])
    high = min(max(smoothed), top + 0.5 * (top - low)) if len(rows) > 1 else top
    pad = 0.05 * max(high - low, 1e-6)
    return round(low - pad, 6), round(high + pad, 6)


def lr_find_chart(rows: Sequence[Mapping[str, Any]], suggested: float | None = None,
                  title: str = "loss vs learning rate") -> alt.Chart:
    """rows: ``{"step", "lr", "loss", "smoothed"}`` per step (``LRFindStep`` events);
    ``suggested``: the rate to mark (None: no mark yet)."""
    rows = [r for r in rows if all(math.isfinite(r[k]) for k in ("lr", "loss", "smoothed"))]
    if not rows:
        return (alt.Chart(pd.DataFrame([{"message": "waiting for the first step…"}]))
                .mark_text(color="#888", fontSize=12).encode(text="message:N")
                .properties(width=WIDTH, height=HEIGHT, title=title))
    low, high = y_range(rows)
    data = pd.DataFrame([{"lr": r["lr"], "series": series, "loss": r[key]}
                         for r in rows for series, key in (("loss", "loss"),
                                                           ("smoothed", "smoothed"))])
    x = alt.X("lr:Q", title="learning rate (log scale)",
              scale=alt.Scale(type="log"), axis=alt.Axis(format=".0e", tickCount=8))
    y = alt.Y("loss:Q", title="loss", scale=alt.Scale(domain=[low, high], zero=False))
    color = alt.Color("series:N", title=None,
                      scale=alt.Scale(domain=["loss", "smoothed"], range=["#9ecae1", "#1f77b4"]),
                      legend=alt.Legend(orient="top-left"))
    chart = alt.Chart(data).mark_line(clip=True).encode(x=x, y=y, color=color)
    if suggested is not None:
        mark = pd.DataFrame([{"lr": suggested, "label": f"suggested {suggested:.2g}"}])
        rule = alt.Chart(mark).mark_rule(color=SUGGESTED_COLOR, strokeDash=[4, 3]).encode(x="lr:Q")
        label = alt.Chart(mark).mark_text(color=SUGGESTED_COLOR, align="left", dx=4, dy=-4,
                                          baseline="bottom").encode(
            x="lr:Q", y=alt.value(12), text="label:N")
        chart = alt.layer(chart, rule, label)
    return chart.properties(width=WIDTH, height=HEIGHT, title=title)
