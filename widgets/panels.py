"""The dashboard's panels, declared once: the live dashboard and the static summary both lay
out exactly this list.

A panel has a name (its widget slot and CSS hook ``jaxtext-<name>``), a title, the event types
that may change it, and how it draws: ``draw(history, title)`` returns an Altair chart
(``kind="chart"``: rendered to SVG off the training thread, within the dashboard's render budget)
or an HTML string (``kind="html"``: cheap, drawn at once), or ``None`` while it has nothing to
show (the panel stays hidden). Panels that share a ``row`` sit side by side, wrapping on narrow
screens; rows appear in the order their first panel is declared. Adding a panel is one entry here.
The chart builders (and Altair, ~2.7 s to import) load on first draw, not with the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jaxtext import History

from . import report


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    feeds: tuple[str, ...]  # event type names (jaxtext.events) after which it may change
    draw: Callable[[History, str], Any]  # -> alt chart | HTML str | None
    kind: str = "chart"  # "chart" or "html"
    row: str = "curves"
    tasks: tuple[str, ...] = ("classify", "lm", "regression", "multilabel")

    def stale_key(self, history: History) -> tuple[int, ...]:
        """Changes exactly when an event that feeds this panel arrived."""
        return tuple(history.seen[name] for name in self.feeds)


def _loss(h: History, title: str):
    from . import charts

    return charts.loss_chart(h.rows).properties(title=title) if h.rows else None


def _validation(h: History, title: str):
    from . import charts

    if not h.validation_rows:
        return None
    return charts.metrics_chart(h.rows).properties(title=title)


def _lr(h: History, title: str):
    from . import charts

    if not any(r["kind"] == "train" for r in h.rows):
        return None
    return charts.lr_chart(h.rows, height=60).properties(title=title)


def _confusion(h: History, title: str):
    from . import charts

    rep = h.report
    if rep is None or not rep.confusion_matrix:
        return None
    return charts.confusion_chart(rep.confusion_matrix, rep.label_names,
                                  title=f"{title} ({report.split_label(rep.split, rep.sampled)}"
                                        f", epoch {rep.epoch})")


def _scatter(h: History, title: str):
    from . import charts

    rep = h.report
    if rep is None or not rep.pairs:
        return None
    return charts.scatter_chart(rep.pairs, title=f"{title} ({report.split_label(rep.split, rep.sampled)}"
                                                 f", epoch {rep.epoch})")


def _per_class(h: History, title: str):
    rep = h.report
    if rep is None or not rep.per_class:
        return None
    return report.section(f"{title} ({report.split_label(rep.split, rep.sampled)}, "
                          f"epoch {rep.epoch})",
                          report.per_class_html(rep.per_class))


def _mistakes(h: History, title: str):
    rep = h.report
    if rep is None or not rep.examples:
        return None
    return report.section(f"{title} ({report.split_label(rep.split, rep.sampled)})",
                          report.misclassified_html(rep.examples, rep.label_names))


def _samples(h: History, title: str):
    return report.samples_html(h.samples) if h.samples else None


PANELS: tuple[Panel, ...] = (
    Panel("loss", "loss", ("StepLog", "EpochEnd"), _loss),
    Panel("lr", "learning rate", ("StepLog",), _lr),
    Panel("validation", "validation metrics", ("EpochEnd",), _validation),
    Panel("confusion", "confusion matrix", ("EvalResult",), _confusion, row="classes",
          tasks=("classify",)),
    Panel("scatter", "predicted vs true", ("EvalResult",), _scatter, row="classes",
          tasks=("regression",)),
    Panel("per_class", "per class", ("EvalResult",), _per_class, kind="html", row="classes",
          tasks=("classify", "multilabel")),
    Panel("examples", "most confident mistakes", ("EvalResult",), _mistakes, kind="html",
          row="examples", tasks=("classify",)),
    Panel("samples", "samples", ("Samples",), _samples, kind="html", row="samples",
          tasks=("lm",)),
)


def layout(task: str, panels: tuple[Panel, ...] = PANELS) -> dict[str, list[Panel]]:
    """The panels for ``task``, grouped into rows (row name -> panels), in declared order."""
    rows: dict[str, list[Panel]] = {}
    for panel in panels:
        if task in panel.tasks:
            rows.setdefault(panel.row, []).append(panel)
    return rows
