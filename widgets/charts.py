"""Pure chart builders: training history -> ``alt.Chart``, and one way to draw them offline.

Every builder takes plain rows and returns an Altair chart, so a test checks the data without a
browser (``chart.to_dict()``). The rows are the run history's format (``Run.history`` rows):

    {"kind": "train", "step", "epoch", "loss", "accuracy", "lr", ...}        one per log
    {"kind": "validation", "step", "epoch", "loss", <metric>: value, ...}    one per epoch
    {"kind": "train_epoch", "step", "epoch", "loss", ...}                    epoch-average train
                                                                             metrics (dashboard only)

How charts reach the page: ``to_svg`` (``vl_convert.vegalite_to_svg``) and an ``HTML`` widget.
The notebook may have no internet, which rules out Altair's default renderer (vega JS from a CDN),
``JupyterChart`` (vega-embed from esm.sh) and the mimetype renderer (JupyterLab 4 knows Vega-Lite
only up to v5; Altair 6 writes v6). The ``html`` renderer with ``template="inline"`` works offline
but ships ~900 KB of vega JavaScript with every update. SVG is drawn in the kernel, ships only
the picture, needs no JavaScript (so it also survives in saved notebooks and on GitHub), and the
same function makes the final static summary.

Measured on the 2-core dev machine (vl-convert 1.9, Altair 6.3, other jobs running), per chart:
build + ``to_dict`` 10-40 ms (rows go in as a DataFrame: ``alt.Data(values=...)`` validates
every row, ~170 ms per 1,000), SVG 35-70 ms, 9-30 KB per update (the loss curve of 2,000 logs is
thinned to 500 points: 29 KB); the ``html``/inline route sends 969 KB for the same chart. The
first render in a process starts V8 (~0.7 s): the dashboard does that on its worker thread at
``on_train_begin``, while JAX compiles. Charts refresh only when their data changed, and at most
every ``chart_every`` s (default 1 s, and only while rendering stays under 2 % of wall time), so a
run sends ~30-60 KB/s at most, usually far less (the progress bar and status line: < 1 KB and
~0.1 ms per update, 4 per second). ``tests/test_widgets.py`` guards the SVG size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

#: Most points drawn for a per-log series; longer runs are thinned evenly (SVG size stays flat).
MAX_POINTS = 500
#: Panel size, in pixels, of the small charts in the dashboard.
WIDTH, HEIGHT = 300, 150
#: Metrics where lower is better (drawn with the same colors as the others; used for titles).
_LOSS_LIKE = ("loss", "perplexity", "bits_per_char", "mae", "rmse")


def ema(values: Sequence[float], smoothing: float = 0.6) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing); 0 keeps the raw values.

    >>> [round(v, 3) for v in ema([1.0, 0.0, 0.0], smoothing=0.5)]
    [1.0, 0.333, 0.143]
    """
    out, acc = [], 0.0
    for i, value in enumerate(values, start=1):
        acc = smoothing * acc + (1 - smoothing) * value
        out.append(acc / (1 - smoothing**i) if smoothing < 1 else value)
    return out


def smooth(values: Sequence[float], smoothing: float = 0.6) -> list[float]:
    """A moving average that neither lags nor leaves the data's range: the mean of the
    debiased EMA run forwards and backwards (a one-way EMA of a falling loss lies above every
    recent point).

    >>> [round(v, 3) for v in smooth([3.0, 2.0, 1.0], smoothing=0.5)]
    [2.714, 2.0, 1.286]
    """
    forward = ema(values, smoothing)
    backward = ema(list(values)[::-1], smoothing)[::-1]
    return [(a + b) / 2 for a, b in zip(forward, backward, strict=True)]


def tick_step(values: Iterable[float], digits: int = 4) -> float:
    """The smallest tick spacing that ``digits`` significant digits can still tell apart.

    >>> tick_step([0.8991, 0.9002]), tick_step([2.5, 12.0])
    (0.0001, 0.01)
    """
    top = max((abs(v) for v in values if _finite(v)), default=1.0) or 1.0
    return 10.0 ** (math.floor(math.log10(top)) - digits + 1)


def y_axis(values: Iterable[float], title: str | None) -> alt.Y:
    """A y axis with at most 4 significant digits per label and never two equal labels."""
    values = list(values)
    return alt.Y("value:Q" if title is None else f"{title}:Q", title=title,
                 scale=alt.Scale(zero=False),
                 axis=alt.Axis(format=".4~g", tickMinStep=tick_step(values), tickCount=5))


def thin(rows: Sequence[Any], max_points: int = MAX_POINTS) -> list[Any]:
    """At most ``max_points`` rows, evenly spaced, always keeping the last one.

    >>> thin(list(range(10)), 4)
    [0, 3, 6, 9]
    """
    rows = list(rows)
    if len(rows) <= max_points:
        return rows
    stride = math.ceil(len(rows) / max_points)
    kept = rows[::stride]
    if kept[-1] is not rows[-1]:
        kept[-1] = rows[-1]
    return kept


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # A DataFrame, not ``alt.Data(values=...)``: Altair validates inline values row by row
    # (~170 ms for 1,000 rows, holding the GIL) where a frame costs ~20 ms.
    return pd.DataFrame(rows)


def _rows(history: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [r for r in history if r.get("kind") == kind]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _empty(title: str, message: str) -> alt.Chart:
    """A blank panel with a line of text, so the layout does not jump when data arrives."""
    return (
        alt.Chart(_frame([{"message": message}]))
        .mark_text(color="#888", fontSize=12)
        .encode(text="message:N")
        .properties(width=WIDTH, height=HEIGHT, title=title)
    )


def loss_chart(history: Iterable[Mapping[str, Any]], smoothing: float = 0.6) -> alt.Chart:
    """Training loss per logged step (raw, faint; smoothed, solid) and validation loss per epoch.

    Data rows: ``{"step", "series": "train"|"train (smoothed)"|"validation", "loss"}``.
    """
    history = list(history)
    train = [r for r in _rows(history, "train") if _finite(r.get("loss"))]
    val = [r for r in _rows(history, "validation") if _finite(r.get("loss"))]
    if not train and not val:
        return _empty("loss", "waiting for the first log…")
    smoothed = smooth([r["loss"] for r in train], smoothing)
    points = [{"step": r["step"], "series": "train", "loss": r["loss"]} for r in train]
    points_s = [{"step": r["step"], "series": "train (smoothed)", "loss": s}
                for r, s in zip(train, smoothed, strict=True)]
    data = thin(points) + thin(points_s)
    data += [{"step": r["step"], "series": "validation", "loss": r["loss"]} for r in val]
    color = alt.Color(
        "series:N",
        scale=alt.Scale(domain=["train", "train (smoothed)", "validation"],
                        range=["#9ecae1", "#1f77b4", "#ff7f0e"]),
        legend=alt.Legend(orient="top", title=None),
    )
    base = alt.Chart(_frame(data)).encode(
        x=alt.X("step:Q", title="step", axis=alt.Axis(format="~s", tickMinStep=1)),
        y=y_axis([d["loss"] for d in data], "loss"),
        color=color,
    )
    few = len(train) <= 20  # a handful of logs: mark each, so a single one is visible too
    lines = base.transform_filter(alt.datum.series != "validation").mark_line(
        strokeWidth=1.5, point=few)
    val_points = base.transform_filter(alt.datum.series == "validation").mark_line(
        point=True, strokeDash=[4, 2])
    return alt.layer(lines, val_points).properties(width=WIDTH, height=HEIGHT, title="loss")


def metrics_chart(history: Iterable[Mapping[str, Any]]) -> alt.Chart:
    """Validation metrics per epoch (one small panel per metric), with epoch-average train values.

    Data rows: ``{"epoch", "split": "validation"|"train", "metric", "value"}``; loss is left to
    ``loss_chart``.
    """
    history = list(history)
    data = []
    for kind, split in (("validation", "validation"), ("train_epoch", "train")):
        for r in _rows(history, kind):
            for metric, value in r.items():
                if metric in ("kind", "step", "epoch", "elapsed_s", "loss") or not _finite(value):
                    continue
                data.append({"epoch": r["epoch"], "split": split, "metric": metric,
                             "value": float(value)})
    if not any(d["split"] == "validation" for d in data):
        return _empty("validation", "validation metrics appear after epoch 1")
    metrics = list(dict.fromkeys(d["metric"] for d in data))
    panel_width = max(120, WIDTH // max(1, len(metrics)) - 10)
    return (
        alt.Chart(_frame(data))
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="epoch", axis=_epoch_axis(d["epoch"] for d in data)),
            # an explicit format: Vega labels a one-epoch (zero-width) domain "0" otherwise
            y=y_axis([d["value"] for d in data], None),
            color=alt.Color("split:N", scale=alt.Scale(domain=["validation", "train"],
                                                         range=["#ff7f0e", "#1f77b4"]),
                            legend=alt.Legend(orient="top", title=None)),
            strokeDash=alt.StrokeDash("split:N", legend=None,
                                      scale=alt.Scale(domain=["validation", "train"],
                                                      range=[[1, 0], [4, 2]])),
        )
        .properties(width=panel_width, height=HEIGHT - 20)
        .facet(column=alt.Column("metric:N", title=None, sort=metrics))
        .resolve_scale(y="independent")
        .properties(title="validation metrics")
    )


def _epoch_axis(epochs: Iterable[int]) -> alt.Axis:
    """Whole epochs only, each labelled once (a fractional tick would repeat a label)."""
    epochs = sorted(set(epochs))
    if len(epochs) <= 12:
        return alt.Axis(values=epochs, format="d")
    return alt.Axis(tickMinStep=1, format="d")


def lr_chart(history: Iterable[Mapping[str, Any]], height: int = HEIGHT) -> alt.Chart:
    """Learning rate per logged step. Data rows: ``{"step", "lr"}``."""
    data = thin([{"step": r["step"], "lr": r["lr"]} for r in _rows(history, "train")
                 if _finite(r.get("lr"))])
    if not data:
        return _empty("learning rate", "waiting for the first log…").properties(height=height)
    return (
        alt.Chart(_frame(data))
        .mark_line(color="#2ca02c")
        .encode(x=alt.X("step:Q", title="step", axis=alt.Axis(format="~s", tickMinStep=1)),
                y=alt.Y("lr:Q", title="lr", axis=alt.Axis(format=".1~e", tickCount=3)))
        .properties(width=WIDTH, height=height, title="learning rate")
    )


def confusion_rows(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> list[dict]:
    """One row per cell: ``{"true", "predicted", "count", "rate"}``; rate is row-normalized.

    >>> confusion_rows([[3, 1], [0, 0]], ["neg", "pos"])[1]
    {'true': 'neg', 'predicted': 'pos', 'count': 1, 'rate': 0.25}
    """
    rows = []
    for i, row in enumerate(matrix):
        total = sum(row)
        for j, count in enumerate(row):
            rows.append({"true": labels[i], "predicted": labels[j], "count": int(count),
                         "rate": count / total if total else 0.0})
    return rows


def confusion_chart(matrix: Sequence[Sequence[int]], labels: Sequence[str],
                    title: str = "confusion matrix") -> alt.Chart:
    """Heatmap colored by the row-normalized rate (recall per true class), cells show the count
    and the rate. ``matrix[true][predicted]`` as in ``EvalResult.confusion_matrix``."""
    labels = [str(x) for x in labels] or [str(i) for i in range(len(matrix))]
    data = confusion_rows(matrix, labels)
    cell = 44 if len(labels) <= 8 else max(14, 360 // len(labels))
    base = alt.Chart(_frame(data)).encode(
        x=alt.X("predicted:N", sort=labels, title="predicted", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("true:N", sort=labels, title="true"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color("rate:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"),
                        legend=alt.Legend(title="row %", format=".0%")),
        tooltip=["true:N", "predicted:N", "count:Q", alt.Tooltip("rate:Q", format=".1%")],
    )
    chart = heat
    if len(labels) <= 12:  # numbers in the cells only while they fit
        text = base.transform_calculate(
            label=alt.expr.format(alt.datum.count, ",d") + "\n"
            + alt.expr.format(alt.datum.rate, ".0%")
        ).mark_text(fontSize=11, lineBreak="\n").encode(
            text="label:N",
            color=alt.condition(alt.datum.rate > 0.5, alt.value("white"), alt.value("black")),
        )
        chart = heat + text
    return chart.properties(width=cell * len(labels), height=cell * len(labels), title=title)


def scatter_rows(pairs: Sequence[Sequence[float]]) -> list[dict]:
    """One row per point: ``{"true", "predicted", "error"}`` (``EvalResult.pairs``).

    >>> scatter_rows([[2.0, 2.5]])
    [{'true': 2.0, 'predicted': 2.5, 'error': 0.5}]
    """
    return [{"true": float(t), "predicted": float(p), "error": float(p) - float(t)}
            for t, p in pairs if _finite(t) and _finite(p)]


def scatter_chart(pairs: Sequence[Sequence[float]],
                  title: str = "predicted vs true") -> alt.Chart:
    """Regression predictions against the true values, with the diagonal a perfect model
    would sit on; both axes share one domain so the diagonal is at 45 degrees."""
    data = scatter_rows(pairs)
    if not data:
        return _empty(title, "no predictions yet")
    values = [d["true"] for d in data] + [d["predicted"] for d in data]
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or 1.0
    domain = [low - pad, high + pad]
    scale = alt.Scale(domain=domain, nice=False, zero=False)
    points = alt.Chart(_frame(data)).mark_circle(size=18, opacity=0.5, color="#1f77b4").encode(
        x=alt.X("true:Q", title="true", scale=scale),
        y=alt.Y("predicted:Q", title="predicted", scale=scale),
        tooltip=[alt.Tooltip("true:Q", format=".4~g"), alt.Tooltip("predicted:Q", format=".4~g"),
                 alt.Tooltip("error:Q", format="+.3~g")],
    )
    diagonal = alt.Chart(_frame([{"true": v, "predicted": v} for v in domain])).mark_line(
        color="#888", strokeDash=[4, 3]).encode(x="true:Q", y="predicted:Q")
    side = min(WIDTH, 220)
    return (diagonal + points).properties(width=side, height=side, title=title)


def _spec(chart: alt.TopLevelMixin | Mapping[str, Any]) -> dict[str, Any]:
    """The Vega-Lite dict, on a white card: readable on light and dark notebook themes."""
    spec = dict(chart) if isinstance(chart, Mapping) else chart.to_dict(validate=False)
    spec.setdefault("background", "white")
    spec.setdefault("padding", 6)
    return spec


def to_svg(chart: alt.TopLevelMixin | Mapping[str, Any]) -> str:
    """Render a chart (or its ``to_dict()``) to an SVG string, offline, with vl-convert. The
    SVG shrinks with a narrow notebook (``max-width: 100%``) instead of overflowing it."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(_spec(chart))
    return svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


SCALE = 2.0  # PNG pixels per chart pixel: sharp on high-density screens


def svg_image(svg: str, scale: float = SCALE):
    """A rendered chart SVG as a PIL image (resvg: milliseconds, no Vega)."""
    import io

    import vl_convert
    from PIL import Image

    return Image.open(io.BytesIO(vl_convert.svg_to_png(svg, scale=scale))).convert("RGB")


def tile_png(rows: Sequence[Sequence[Any]], gap: tuple[int, int] = (24, 16),
             scale: float = SCALE, colors: int = 64) -> bytes:
    """PIL images laid out in rows (left-aligned, ``gap`` chart pixels apart) as one small
    palette PNG: the static summary's picture of every chart panel."""
    from PIL import Image

    dx, dy = int(gap[0] * scale), int(gap[1] * scale)
    width = max(sum(im.width for im in row) + dx * (len(row) - 1) for row in rows)
    height = sum(max(im.height for im in row) for row in rows) + dy * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    y = 0
    for row in rows:
        x = 0
        for im in row:
            canvas.paste(im, (x, y))
            x += im.width + dx
        y += max(im.height for im in row) + dy
    return _palette_png(canvas, colors)


def _palette_png(image, colors: int) -> bytes:
    """A few colors suffice for flat charts: ~7x smaller (measured 305 KB -> 45 KB for a
    classifier's summary). The fast octree and zlib level 6 take ~0.05 s, where median cut +
    optimize took 0.25 s for 10 % fewer bytes (the time is on the way to an idle cell)."""
    import io

    from PIL import Image

    small = io.BytesIO()
    image.quantize(colors=colors, method=Image.Quantize.FASTOCTREE,
                   dither=Image.Dither.NONE).save(small, format="PNG", compress_level=6)
    return small.getvalue()
