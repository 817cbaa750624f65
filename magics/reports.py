"""What ``%jaxtext list | runs | help | export`` and ``%%train`` show: pure functions of core objects.

Tables are pandas DataFrames (the notebook renders them; tests compare them); text is str.
Nothing here imports IPython.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import pandas as pd

import jaxtext


def registry_table(kinds: list[str] | None = None) -> pd.DataFrame:
    """One row per registered name: kind (model, dataset...), name, source (built-in/plugin)."""
    return pd.DataFrame(jaxtext.list_plugins(kinds), columns=["kind", "name", "source"])


HELP = """\
jaxtext magics (%load_ext jaxtext)

  %%train NAME [--key VALUE ...]     cell body: YAML 'key: value' config; the run -> NAME
  %train NAME key=VALUE ...          the same on one line
      line settings override the body: --epochs 1, --max-len 128, --set hidden=64, lr=3e-3
      $var uses a notebook variable:   data: $df   (a DataFrame, Dataset or list)
      --callbacks progress,json         views for this run (default: %config JaxtextMagics.callbacks)
      lr: suggested                     run the LR finder first and train with its rate
  %%lr_find NAME [--steps 100 --start-lr 1e-7 --end-lr 10]
                                     the %%train body; sweeps the learning rate, draws loss vs
                                     rate, the result -> NAME (then lr: $NAME.suggested)
  %%generate NAME [--max-new-tokens N --temperature T --top-k K --top-p P --num-samples S --seed S]
                                     cell body: the prompt; prints run.generate(prompt, ...)
  %predict NAME some text            run.predict([text]) as a table (%predict NAME $texts,
  %%predict NAME                     or one text per body line)
  %jaxtext list [models|datasets|tokenizers|callbacks]
  %jaxtext runs                      runs trained by %%train in this kernel, with test metrics
  %jaxtext summary NAME              run.summary(): parameters per layer, shapes, memory
  %jaxtext compare A B ... [--by step|epoch|time] [--metric loss]
                                     jaxtext.compare of runs (names or saved run folders)
  %jaxtext help [MODEL]              this help, or the keys of MODEL's own config
  %jaxtext export NAME PATH          run.export(PATH): the run for jaxtext.load_exported
                                     and `python -m jaxtext serve` (--overwrite replaces one)
"""


def help_text(model: str | None = None) -> str:
    """Magic usage plus the core keys, or one model's keys (``python -m jaxtext help``'s text)."""
    if model is not None:
        return jaxtext.keys_text(model)
    return HELP + "\n" + jaxtext.keys_text()


@dataclass
class RunRecord:
    """A run the magics made: a weak reference (the notebook owns the run) and a fallback row."""

    variable: str
    ref: Any  # () -> Run | None
    last_row: dict[str, Any]

    @classmethod
    def of(cls, variable: str, run: Any) -> RunRecord:
        try:
            ref = weakref.ref(run)
        except TypeError:  # not weak-referenceable: keep it alive
            ref = lambda: run  # noqa: E731
        return cls(variable, ref, run_row(variable, run))

    def row(self) -> dict[str, Any]:
        run = self.ref()
        if run is None:
            return {**self.last_row, "status": f"{self.last_row['status']} (deleted)"}
        self.last_row = run_row(self.variable, run)
        return self.last_row


def run_row(variable: str, run: Any) -> dict[str, Any]:
    """Headline facts of a Run, asked of the run itself (so later evaluations show up)."""
    config = getattr(run, "config", None)
    row = {
        "variable": variable,
        "name": getattr(run, "name", ""),
        "model": getattr(config, "model", ""),
        "data": config.to_dict()["data"] if hasattr(config, "to_dict") else "",
        "status": getattr(run, "status", ""),
        "steps": getattr(run, "steps", None),
    }
    for metric, value in (test_metrics(run) or {}).items():
        row[f"test_{metric}"] = value
    return row


def test_metrics(run: Any) -> dict[str, float] | None:
    metrics = getattr(run, "test_metrics", None)
    return dict(metrics) if metrics else None


def runs_table(records: list[RunRecord]) -> pd.DataFrame:
    columns = ["variable", "name", "model", "data", "status", "steps"]
    rows = [record.row() for record in records]
    extra = sorted({k for row in rows for k in row} - set(columns))
    return pd.DataFrame(rows, columns=columns + extra)


def summary_line(variable: str, run: Any) -> str:
    """One line after %%train: where the run went, how it ended, its headline test metric."""
    status = getattr(run, "status", "finished")
    steps = getattr(run, "steps", None)
    at = f" at step {steps}" if status == "interrupted" and steps is not None else ""
    metrics = test_metrics(run)
    shown = ""
    if metrics:
        config = getattr(run, "config", None)
        key = getattr(config, "monitor_metric", None)
        key = key if key in metrics else next(iter(metrics))
        shown = f", test {key} {metrics[key]:.4f}"
    keep = "; it keeps the weights so far" if status == "interrupted" else ""
    saved = getattr(run, "saved_to", None)
    where = f"; saved to {saved}" if saved else ""
    return f"{variable}: {status}{at}{shown}{keep}{where}"


def sweep_line(variable: str, result: Any) -> str:
    """One line after %%sweep: how many runs, how it ended, the best configuration."""
    rows = result.rows()
    best = rows[0] if rows else {}
    monitor = result.plan.monitor
    value = best.get(f"validation_{monitor}")
    swept = ", ".join(f"{k}={best[k]}" for k in result.plan.keys if k in best)
    best_text = f"; best {swept} (validation {monitor} {value:.4f}): {variable}.best" \
        if value is not None else ""
    return (f"{variable}: {len(result.runs)} of {len(result.plan.configs)} runs "
            f"{result.status}{best_text}; ranked: {variable}.table")
