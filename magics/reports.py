"""What ``%jaxtext list | runs | help`` and ``%%train`` show: pure functions of core objects.

Tables are pandas DataFrames (the notebook renders them; tests compare them); text is str.
Nothing here imports IPython.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import weakref
from dataclasses import dataclass
from typing import Any

import pandas as pd

from jaxtext.config import Config, describe_data
from jaxtext.registry import REGISTRIES


def registry_table(kinds: list[str] | None = None) -> pd.DataFrame:
    """One row per registered name: kind (model, dataset...), name, source (built-in/plugin)."""
    rows = []
    for kind, registry in REGISTRIES.items():
        if kinds and kind not in kinds:
            continue
        for name, source in registry.sources().items():
            rows.append({"kind": registry.kind, "name": name, "source": source})
    return pd.DataFrame(rows, columns=["kind", "name", "source"])


def config_table(config_cls: type = Config) -> pd.DataFrame:
    """Keys of a config dataclass with their defaults and the comment that explains each."""
    helps = _field_comments(config_cls)
    rows = []
    for f in dataclasses.fields(config_cls):
        if f.name == "model_args":
            continue
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else "")
        )
        rows.append({"key": f.name, "default": repr(default), "help": helps.get(f.name, "")})
    return pd.DataFrame(rows, columns=["key", "default", "help"])


def _field_comments(config_cls: type) -> dict[str, str]:
    """``name: type = default  # help`` -> {name: help}, read from the class source."""
    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):
        return {}
    pattern = re.compile(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", re.M)
    return {name: text.strip() for name, text in pattern.findall(source)}


HELP = """\
jaxtext magics (%load_ext jaxtext)

  %%train NAME [--key VALUE ...]     cell body: YAML 'key: value' config; the run -> NAME
  %train NAME key=VALUE ...          the same on one line
      line settings override the body: --epochs 1, --max-len 128, --set hidden=64, lr=3e-3
      $var uses a notebook variable:   data: $df   (a DataFrame, Dataset or list)
      --callbacks progress,json         views for this run (default: %config JaxtextMagics.callbacks)
  %%generate NAME [--max-new-tokens N --temperature T --top-k K --top-p P --num-samples S --seed S]
                                     cell body: the prompt; prints run.generate(prompt, ...)
  %predict NAME some text            run.predict([text]) as a table (%predict NAME $texts,
  %%predict NAME                     or one text per body line)
  %jaxtext list [models|datasets|tokenizers|callbacks]
  %jaxtext runs                      runs trained by %%train in this kernel, with test metrics
  %jaxtext help [MODEL]              this help, or the keys of MODEL's own config
"""


def help_text(model: str | None = None) -> str:
    """Usage plus the config keys with defaults (core keys, or one model's keys)."""
    if model is not None:
        from jaxtext.registry import models

        model_cls = models.get(model)
        config_cls = getattr(model_cls, "Config", None)
        if config_cls is None:
            return f"model '{model}' has no keys of its own"
        return (
            f"keys of model '{model}' (set them in the body or with --key VALUE):\n"
            + _format_keys(config_table(config_cls))
        )
    return (
        HELP
        + "\nconfig keys (defaults):\n"
        + _format_keys(config_table())
        + "\nmodel keys: %jaxtext help MODEL"
    )


def _format_keys(table: pd.DataFrame) -> str:
    width = (
        max((len(k) + len(d) for k, d in zip(table.key, table.default, strict=True)), default=0) + 4
    )
    return "".join(
        f"  {f'{k}: {d}':<{width}}{h}\n"
        for k, d, h in zip(table.key, table.default, table.help, strict=True)
    )


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
        "data": describe_data(getattr(config, "data", "")),
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
    return f"{variable}: {status}{at}{shown}{keep}"


def samples_text(prompt: str, samples: list[str]) -> str:
    """Each sampled continuation after its prompt, separated by a rule when there are several."""
    if len(samples) == 1:
        return prompt + samples[0]
    return "\n".join(f"--- sample {i} ---\n{prompt}{s}" for i, s in enumerate(samples, 1))
