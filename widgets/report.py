"""HTML fragments of the dashboard and of the static summary: pure ``data -> str`` functions.

Only inline styles (notebook sanitizers drop ``<style>`` blocks), JupyterLab theme variables with
light fallbacks, and every piece of user text escaped (reviews may contain ``<b>`` or ``<script>``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jaxtext
from jaxtext import ModelSummary, display
from jaxtext import events as ev

MUTED = "color: var(--jp-content-font-color2, #666)"
BORDER = "var(--jp-border-color2, #ddd)"
_STATUS_COLORS = {"completed": "#2e7d32", "early_stopped": "#2e7d32", "interrupted": "#ef6c00",
                  "failed": "#c62828", "running": "#1976d2"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt_count(n: int) -> str:
    """Short human count: 1234567 -> '1.23M'.

    >>> fmt_count(950), fmt_count(12_345), fmt_count(1_234_567)
    ('950', '12.3K', '1.23M')
    """
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:,}"


def fmt_time(seconds: float | None) -> str:
    """'m:ss' or 'h:mm:ss'; '–' when unknown.

    >>> fmt_time(75), fmt_time(3725), fmt_time(None)
    ('1:15', '1:02:05', '–')
    """
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = max(0, int(round(seconds)))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return esc(value)


def header_html(begin: ev.TrainBegin) -> str:
    """Run name, model, parameter count, devices and dataset sizes on two lines."""
    unit = "sequences" if begin.task == "lm" else "examples"
    details = []
    if begin.dataset_sizes:
        sizes = " · ".join(f"{esc(k)} {v:,}" for k, v in begin.dataset_sizes.items())
        details.append(f"data {esc(begin.data)}: {sizes} {unit}")
    else:
        details.append(f"data {esc(begin.data)}")
    if begin.label_names:
        details.append(f"{len(begin.label_names)} classes")
    if begin.batch_size:
        details.append(f"batch {begin.batch_size}")
    if begin.devices:
        details.append(f"devices {esc(', '.join(begin.devices))}")
    preset = preset_html(begin)
    params = (f" · {fmt_count(begin.num_params)} parameters ({begin.num_params:,})"
              if begin.num_params else "")
    return (
        f'<div style="line-height:1.5">'
        f'<b style="font-size:1.15em">{esc(begin.run_name)}</b>'
        f' <span style="{MUTED}">· {esc(begin.model)}{params} · {esc(begin.task)}</span><br>'
        f'<span style="{MUTED}">{" · ".join(details)}</span>{preset}'
        f"{model_details_html(begin.model_summary)}</div>"
    )


def preset_html(begin: ev.TrainBegin) -> str:
    """'<br>preset accurate: ngrams 2 · lr 0.05 ...': the values the run used for the keys its
    preset sets (an explicit key may have changed one); "" without a preset."""
    name = begin.config.get("preset")
    if not name:
        return ""
    try:
        keys = jaxtext.presets(begin.model, begin.task).get(name, {})
    except jaxtext.JaxtextError:  # a saved run of a model no longer installed: the name only
        keys = {}
    values = " · ".join(f"{esc(k)} {fmt_metric(begin.config[k])}" for k in keys
                        if k in begin.config)
    return f'<br><span style="{MUTED}">preset {esc(name)}{": " + values if values else ""}</span>'


def model_details_html(model_summary: Mapping[str, Any]) -> str:
    """The per-layer table folded under a "model" toggle: ``<details>`` opens in the browser
    itself, so it works while the kernel is busy training and in a saved notebook."""
    if not model_summary:
        return ""
    summary = ModelSummary.from_dict(dict(model_summary))
    return (f'<details class="jaxtext-model" style="font-size:12px">'
            f'<summary style="cursor:pointer;{MUTED}">model: {esc(summary.sizes())}</summary>'
            f"{summary.table_html()}</details>")


def status_text(*, step: int, total: int, epoch: int, epochs: int, examples_per_s: float | None,
                elapsed_s: float | None, eta_s: float | None) -> str:
    """The line next to the progress bar (plain text, no markup).

    >>> status_text(step=50, total=200, epoch=1, epochs=4, examples_per_s=1234.5,
    ...             elapsed_s=12, eta_s=36)
    'epoch 1/4 · step 50/200 · 1,234 ex/s · 0:12 elapsed · ETA 0:36'
    """
    rate = f"{examples_per_s:,.0f} ex/s" if examples_per_s else "– ex/s"
    return (f"epoch {epoch}/{epochs} · step {step:,}/{total:,} · {rate} · "
            f"{fmt_time(elapsed_s)} elapsed · ETA {fmt_time(eta_s)}")


def split_label(split: str, sampled: int = 0) -> str:
    """A split's name, and that it was scored on a sample (``eval_limit``) when it was.

    >>> split_label("test"), split_label("validation", 500)
    ('test', 'validation, a sample of 500')
    """
    return f"{split}, a sample of {sampled:,}" if sampled else split


def sparkline_svg(values: Sequence[float], width: int = 90, height: int = 16,
                  max_points: int = 200) -> str:
    """A tiny inline curve (no axes): the loss so far, for the moments before a full chart is
    drawn. Python, not Vega: ~0.2 ms, where an Altair render costs 50-70 ms of CPU that a
    short run would pay in training speed.

    >>> sparkline_svg([3.0, 2.0, 1.0]).count("<polyline")
    1
    """
    values = [v for v in values if math.isfinite(v)][-max_points:]
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = (width - 2) / (len(values) - 1)
    points = " ".join(f"{1 + i * step:.1f},{1 + (height - 2) * (hi - v) / span:.1f}"
                      for i, v in enumerate(values))
    return (f'<svg width="{width}" height="{height}" style="vertical-align:middle">'
            f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.2"/>'
            "</svg>")


def metrics_line_html(last_log: ev.StepLog | None, validation: Mapping[str, float] | None,
                      best_epoch: int | None = None, sampled: int = 0,
                      losses: Sequence[float] = ()) -> str:
    """Latest training loss (with a sparkline of the losses so far) / accuracy / lr and the
    latest validation metrics."""
    parts = []
    if last_log is not None:
        parts.append(f"<b>train</b> loss {last_log.loss:.4f} {sparkline_svg(losses)}".rstrip())
        if last_log.accuracy is not None:
            parts.append(f"acc {last_log.accuracy:.3f}")
        parts.append(f"lr {last_log.lr:.2e}")
    if validation:
        val = " ".join(f"{esc(k)} {fmt_metric(v)}" for k, v in validation.items())
        best = f" (best epoch {best_epoch})" if best_epoch else ""
        sample = f" (a sample of {sampled:,})" if sampled else ""
        parts.append(f"&nbsp;&nbsp;<b>validation</b>{sample} {val}{best}")
    return f'<div style="font-family:var(--jp-code-font-family, monospace);font-size:12px">' \
           f'{" · ".join(parts) or "&nbsp;"}</div>'


def compiles_text(compiles: Sequence[tuple[float, bool]]) -> str:
    """What XLA compiling cost so far, from (seconds, loaded from the cache) per shape.

    >>> compiles_text([(8.2, False)]), compiles_text([(2.0, False), (0.5, True)])
    ('compiled in 8.2 s', 'compiled 2 shapes in 2.5 s (1 from the compile cache)')
    """
    seconds = sum(s for s, _ in compiles)
    cached = sum(c for _, c in compiles)
    if len(compiles) == 1:
        return ("compile cache hit" if cached else "compiled") + f" in {seconds:.1f} s"
    text = f"compiled {len(compiles)} shapes in {seconds:.1f} s"
    return text + (f" ({cached} from the compile cache)" if cached else "")


def end_html(end: ev.TrainEnd, interrupt: ev.Interrupt | None = None,
             test_sampled: int = 0) -> str:
    """One line: how the run ended, test metrics if any (and if only on a sample)."""
    color = _STATUS_COLORS.get(end.status, "#333")
    text = f"<b style='color:{color}'>{esc(end.status.replace('_', ' '))}</b> after " \
           f"{end.step:,} steps in {fmt_time(end.elapsed_s)}"
    if end.message:
        text += f": {esc(end.message)}"
    if end.test:
        sample = f" (a sample of {test_sampled:,})" if test_sampled else ""
        text += f" · <b>test</b>{sample} " + " ".join(f"{esc(k)} {fmt_metric(v)}"
                                                      for k, v in end.test.items())
    return f"<div>{text}</div>"


def progress_bar_html(fraction: float, status: str = "running", label: str = "") -> str:
    """A static progress bar (for the summary, where no widget is left)."""
    pct = max(0.0, min(1.0, fraction)) * 100
    color = _STATUS_COLORS.get(status, "#1976d2")
    return (
        f'<div style="display:flex;align-items:center;gap:8px">'
        f'<div style="flex:0 0 320px;height:12px;background:{BORDER};border-radius:2px">'
        f'<div style="width:{pct:.1f}%;height:100%;background:{color};border-radius:2px"></div>'
        f'</div><span style="{MUTED};font-size:12px">{esc(label)}</span></div>'
    )


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], align: str = "right") -> str:
    cell = f"padding:2px 8px;border-bottom:1px solid {BORDER};text-align:{align}"
    out = ['<table style="border-collapse:collapse;font-size:12px;line-height:1.35"><thead><tr>']
    out += [f'<th style="{cell}">{h}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td style="{cell}">{c}</td>' for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def per_class_html(per_class: Sequence[Mapping[str, Any]]) -> str:
    """Precision / recall / F1 / support per class, plus the macro average."""
    if not per_class:
        return ""
    rows = [[esc(c["label"]), f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}",
             f"{int(c['support']):,}"] for c in per_class]
    n = len(per_class)
    macro = [sum(c[k] for c in per_class) / n for k in ("precision", "recall", "f1")]
    rows.append(["<i>macro avg</i>", *(f"<i>{v:.3f}</i>" for v in macro),
                 f"<i>{sum(int(c['support']) for c in per_class):,}</i>"])
    return _table(["class", "precision", "recall", "F1", "support"], rows)


def fmt_prob(p: float) -> str:
    """A probability with the digits it needs: 0.73, but 0.99981 and 0.0002 rather than
    1.00 and 0.00 (an overconfident mistake should look like one).

    >>> fmt_prob(0.734), fmt_prob(0.99981), fmt_prob(0.0002), fmt_prob(1.0)
    ('0.73', '0.99981', '0.0002', '1.00')
    """
    if not math.isfinite(p):
        return str(p)
    tail = min(p, 1.0 - p)
    digits = 2 if tail >= 0.01 or tail <= 0 else min(6, math.ceil(-math.log10(tail)) + 1)
    text = f"{p:.{digits}f}"
    return text if digits == 2 else text.rstrip("0")


def _prob_bars(probs: Mapping[str, float] | Sequence[float], label_names: Sequence[str],
               true: str, predicted: str) -> str:
    if not isinstance(probs, Mapping):
        probs = dict(zip(label_names, probs, strict=False))
    top = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
    out = []
    for name, p in top:
        color = "#c62828" if name == predicted else "#2e7d32" if name == true else "#999"
        out.append(
            f'<div style="display:flex;align-items:center;gap:4px;white-space:nowrap">'
            f'<span style="display:inline-block;width:{max(1, round(60 * p))}px;height:8px;'
            f'background:{color}"></span>{esc(name)} {fmt_prob(p)}</div>')
    return "".join(out)


def misclassified_html(examples: Sequence[Mapping[str, Any]], label_names: Sequence[str] = (),
                       limit: int = 5) -> str:
    """The most confident mistakes: text, true label, prediction and class probabilities."""
    if not examples:
        return ""
    rows = []
    for ex in list(examples)[:limit]:
        true, pred = ex.get("label", "?"), ex.get("predicted", "?")
        if isinstance(true, int) and label_names:
            true = label_names[true]
        if isinstance(pred, int) and label_names:
            pred = label_names[pred]
        text = str(ex.get("text", ""))
        text = text if len(text) <= 300 else text[:300] + "…"
        rows.append([f'<div style="max-width:520px;text-align:left">{esc(text)}</div>',
                     esc(true), f"<b>{esc(pred)}</b>",
                     _prob_bars(ex.get("probs") or {}, label_names, str(true), str(pred))])
    return _table(["misclassified text", "true", "predicted", "probabilities"], rows, align="left")


def samples_html(samples: Sequence[ev.Samples], previous: int = 3) -> str:
    """The newest epoch's samples in full; a few earlier epochs folded under <details>."""
    if not samples:
        return ""

    def block(event: ev.Samples) -> str:
        items = []
        for i, text in enumerate(event.samples):
            probs = event.token_probs[i] if i < len(event.token_probs) else ()
            items.append(display.sample_html(event.prompt, text, probs))
        return "<hr style='border:none;border-top:1px dashed #ccc'>".join(items)

    latest = samples[-1]
    legend = display.legend_html()
    out = [f"<div><b>samples at step {latest.step:,} (epoch {latest.epoch})</b> {legend}</div>",
           block(latest)]
    for event in reversed(samples[-1 - previous:-1]):
        out.append(f"<details><summary>step {event.step:,} (epoch {event.epoch})</summary>"
                   f"{block(event)}</details>")
    return "".join(out)


def section(title: str, body: str) -> str:
    return f'<div style="margin-top:6px"><div style="font-weight:bold;margin:4px 0">{esc(title)}' \
           f"</div>{body}</div>"
