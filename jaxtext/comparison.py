"""Several runs side by side: their curves on one axis, their final metrics, and the config keys
they differ in.

``compare`` returns data (pandas frames and a dict), never a chart: the core does not import
Altair. In a notebook a ``Comparison`` is drawn by the view registered under the entry point
``jaxtext.views:comparison`` (``jaxtext.widgets.compare``: one Altair chart, then the tables);
without one, and in a terminal, it shows its tables.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

from jaxtext.errors import ConfigError, did_you_mean, shown

#: How curves are aligned: the x column of ``Comparison.curves`` for each ``by``.
AXES = {"step": "step", "epoch": "epoch", "time": "elapsed_s"}
_NOT_METRICS = ("kind", "step", "epoch", "elapsed_s")
_LABELS = ("name",)  # config keys that only label a run (its row name): never a difference


@dataclass(frozen=True, eq=False)  # it holds DataFrames, which do not compare to a bool
class Comparison:
    """What ``jaxtext.compare`` returns.

    ``curves``: long-form rows (run, split 'train' or 'validation', step, epoch (fractional:
    step / steps per epoch), elapsed_s, value) of ``metric``; ``final``: one row per run, its
    test metrics and last validation metrics; ``differences``: config key -> {run: value} for
    the keys whose values are not all equal.
    """

    runs: list[str]
    by: str
    metric: str
    curves: Any  # pandas.DataFrame
    final: Any  # pandas.DataFrame, index: run
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def x(self) -> str:
        """The column of ``curves`` the runs are aligned on."""
        return AXES[self.by]

    def config_table(self):
        """The differing config keys as a DataFrame: one row per run, one column per key."""
        import pandas as pd

        return pd.DataFrame({key: [values.get(run) for run in self.runs]
                             for key, values in self.differences.items()},
                            index=pd.Index(self.runs, name="run"))

    def text(self) -> str:
        lines = [f"{len(self.runs)} runs, {self.metric} by {self.by}: {', '.join(self.runs)}",
                 "", "final metrics", self.final.to_string(float_format=_fmt)]
        if self.differences:
            lines += ["", "config keys that differ", self.config_table().to_string()]
        else:
            lines += ["", "same config keys"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def tables_html(self) -> str:
        """The final metrics and the differing config keys as HTML tables."""
        parts = ["<div><b>final metrics</b></div>",
                 self.final.to_html(float_format=_fmt, na_rep="–")]
        if self.differences:
            parts += ["<div><b>config keys that differ</b></div>", self.config_table().to_html()]
        else:
            parts.append("<div><b>same config keys</b></div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        from jaxtext.registry import views

        if "comparison" in views:
            return views.get("comparison")(self)
        title = html.escape(f"{self.metric} by {self.by}: {', '.join(self.runs)}")
        return f"<div><b>{title}</b>{self.tables_html()}</div>"


def compare(*runs: Any, by: str = "step", metric: str = "loss") -> Comparison:
    """Compare runs (``Run`` objects or saved run folders) on ``metric`` aligned ``by``
    'step', 'epoch' or 'time' (seconds since the run started)."""
    import pandas as pd

    if by not in AXES:
        raise ConfigError(f"compare by {shown(by)}{did_you_mean(by, AXES)}; "
                          f"choose from {', '.join(AXES)}")
    if len(runs) == 1 and isinstance(runs[0], (list, tuple)):
        runs = tuple(runs[0])
    if not runs:
        raise ConfigError("compare needs runs: jaxtext.compare(run_a, run_b) or run folders")
    loaded = [_as_run(run) for run in runs]
    names = _unique([run.name for run in loaded])
    curves = pd.DataFrame([row for name, run in zip(names, loaded, strict=True)
                           for row in _curve_rows(name, run, metric)],
                          columns=["run", "split", "step", "epoch", "elapsed_s", "value"])
    if curves.empty:
        known = sorted({k for run in loaded for r in run.record.rows for k in r
                        if k not in _NOT_METRICS and isinstance(r[k], (int, float))})
        raise ConfigError(f"no run has a {shown(metric)} curve{did_you_mean(metric, known)}; "
                          f"metrics: {', '.join(known) or 'none (nothing was logged)'}")
    final = pd.DataFrame([_final_row(run) for run in loaded],
                         index=pd.Index(names, name="run"))
    return Comparison(runs=names, by=by, metric=metric, curves=curves, final=final,
                      differences=config_differences(
                          {name: run.config.to_dict() for name, run in
                           zip(names, loaded, strict=True)}))


def config_differences(configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Config key -> {run: value} for the keys whose values are not all the same (a key one
    run lacks, e.g. another model's, counts as None there).

    >>> config_differences({"a": {"lr": 0.1, "epochs": 2}, "b": {"lr": 0.01, "epochs": 2}})
    {'lr': {'a': 0.1, 'b': 0.01}}
    """
    keys = list(dict.fromkeys(k for config in configs.values() for k in config))
    out = {}
    for key in keys:
        if key in _LABELS:
            continue
        values = {run: config.get(key) for run, config in configs.items()}
        first = next(iter(values.values()))
        if any(value != first for value in values.values()):
            out[key] = values
    return out


def _as_run(run: Any):
    """A ``Run`` as it is; a folder path loaded with ``jaxtext.load``."""
    from jaxtext.run import Run

    if isinstance(run, Run):
        return run
    if isinstance(run, (str, os.PathLike)):
        from jaxtext.api import load

        return load(run)
    raise ConfigError(f"compare takes runs or saved run folders, not {shown(run)}")


def _unique(names: list[str]) -> list[str]:
    """Run names made distinct: a second 'clf' becomes 'clf #2'.

    >>> _unique(["clf", "lm", "clf"])
    ['clf', 'lm', 'clf #2']
    """
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _curve_rows(name: str, run, metric: str) -> list[dict[str, Any]]:
    """The run's ``metric`` per training log and per epoch's validation."""
    begin = run.record.begin
    per_epoch = max(1, begin.steps_per_epoch) if begin is not None else None
    rows = []
    for row in run.record.rows:
        if row["kind"] not in ("train", "validation") or row.get(metric) is None:
            continue
        epoch = row["step"] / per_epoch if per_epoch else float(row["epoch"])
        rows.append({"run": name, "split": row["kind"], "step": row["step"], "epoch": epoch,
                     "elapsed_s": row["elapsed_s"], "value": float(row[metric])})
    return rows


def _final_row(run) -> dict[str, Any]:
    """Status, steps, test metrics and the last validation's metrics of one run."""
    row: dict[str, Any] = {"status": run.status, "steps": run.steps}
    row.update({f"test_{k}": v for k, v in run.test_metrics.items()})
    validation = run.record.validation_rows
    if validation:
        row.update({f"validation_{k}": v for k, v in validation[-1].items()
                    if k not in _NOT_METRICS})
    return row


def _fmt(value: float) -> str:
    return f"{value:.4g}"
