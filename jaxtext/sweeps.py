"""Hyperparameter sweeps: a grid of configs -> groups trained together -> ranked runs.

    result = jaxtext.sweep({"model": "mlp", "data": "imdb"}, lr=[1e-3, 3e-3], seed=[0, 1])
    result.table        # swept keys, validation and test metrics, best first
    result.best         # the best Run (predict / evaluate / save as usual)

Configurations that differ only in ``VMAPPED`` keys share every array shape and the compiled
step, so one group trains them together: their parameters and optimizer states are stacked and
the step is ``jax.vmap``-ed over them (``training/sweep_trainer.py``), one compile for the
whole group and one dispatch per step for each chunk of them (a chunk of at most 4 of the
default mlp's; short steps all in one). Any other difference (model, dim, batch_size, epochs,
warmup, dropout, ...) starts a new group; groups run one after another. Data is prepared once
per data settings and shared.

A seed sweep varies the initial weights and the dropout stream; the data (its split, the
``limit`` sample and the batch order) follows the base config's seed and is the same for every
configuration of a group, so the runs differ only where the seed should make them differ.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jaxtext.config import Config
from jaxtext.errors import ConfigError, shown

#: keys whose values are traced arrays in the vmapped step (no new shapes, no new compile)
VMAPPED = ("lr", "weight_decay", "grad_clip", "seed")
#: keys a sweep cannot vary or take (each run would need its own folder or start)
REFUSED = ("name", "out", "resume", "init", "checkpoint_every", "data")
#: keys that decide the prepared data (one preparation per distinct tuple of them)
DATA_KEYS = ("data", "task", "text_column", "label_column", "tokenizer", "vocab_size",
             "max_len", "lowercase", "limit")
HIGHER_IS_BETTER = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep trains: one config per grid point, grouped by what can share a step."""

    name: str
    keys: list[str]  # swept keys, in the order given
    values: list[dict[str, Any]]  # per configuration: swept key -> value
    configs: list[Config]
    groups: list[list[int]]  # indices into ``configs``; each group one vmapped run
    data_seed: int  # the base config's seed: the data and its batch order follow it

    @property
    def monitor(self) -> str:
        return self.configs[0].monitor_metric

    @property
    def higher_is_better(self) -> bool:
        return self.monitor in HIGHER_IS_BETTER


def plan_sweep(config: Config | Mapping | None, sweep: Mapping[str, Any]) -> SweepPlan:
    """Check the swept values and build every configuration of their grid (their product).

    >>> plan = plan_sweep({"model": "mlp", "dim": 8}, {"lr": [1e-3, 1e-2], "dim": [8, 16]})
    >>> plan.values[:2], plan.groups
    ([{'lr': 0.001, 'dim': 8}, {'lr': 0.001, 'dim': 16}], [[0, 2], [1, 3]])
    """
    base = _base_settings(config)
    keys = _check_sweep(sweep, base)
    base_config = Config.from_dict(base)
    if base_config.early_stopping:
        raise ConfigError("early_stopping is not supported in a sweep yet; set "
                          "early_stopping: 0 (each run keeps its last weights)")
    for key in REFUSED:
        if key != "data" and key != "name" and getattr(base_config, key):
            raise ConfigError(f"a sweep cannot use {key}; train, then save the runs you want "
                              f"with result.runs[i].save(folder)")
    name = base_config.name or f"{base_config.model}-sweep"
    values, configs = [], []
    for combo in itertools.product(*(sweep[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        label = ",".join(f"{k}={_short(v)}" for k, v in point.items())
        try:
            configs.append(Config.from_dict({**base, **point, "name": f"{name}[{label}]"}))
        except ConfigError as err:
            raise ConfigError(f"sweep point {label}: {err}") from None
        values.append(point)
    groups: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(group_key(cfg), []).append(i)
    return SweepPlan(name=name, keys=keys, values=values, configs=configs,
                     groups=list(groups.values()), data_seed=base_config.seed)


def group_key(config: Config) -> tuple:
    """Configs with equal keys share shapes and the compiled step (clipping on or off is part
    of the step's structure, its threshold is not)."""
    fixed = {k: v for k, v in config.to_dict().items() if k not in VMAPPED and k != "name"}
    return (tuple((k, repr(v)) for k, v in fixed.items()), _data_identity(config),
            config.grad_clip > 0)


def data_key(config: Config) -> tuple:
    """Configs with equal keys share one data preparation."""
    described = config.to_dict()
    return (tuple(repr(described[k]) for k in DATA_KEYS), _data_identity(config))


def _data_identity(config: Config) -> Any:
    """In-memory data is the same data only if it is the same object."""
    return None if isinstance(config.data, str) else id(config.data)


def _base_settings(config: Config | Mapping | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Config):
        return {**config.to_dict(), "data": config.data, "init": config.init}
    if not isinstance(config, Mapping):
        raise ConfigError(f"sweep's config must be a dict of keys such as {{'model': 'mlp'}} "
                          f"or a Config, not {type(config).__name__}")
    return dict(config)


def _check_sweep(sweep: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    """The swept keys, after one-line errors for a missing, unknown, empty or non-list value."""
    if not sweep:
        raise ConfigError("nothing to sweep: give each swept key a list of values, e.g. "
                          "jaxtext.sweep(config, lr=[1e-3, 3e-3])")
    known = set(Config.from_dict(base).to_dict())
    for key, values in sweep.items():
        if key not in known:
            from jaxtext.errors import did_you_mean

            raise ConfigError(f"cannot sweep unknown key {shown(key)}"
                              f"{did_you_mean(key, sorted(known))}; sweep config keys such "
                              f"as lr or seed")
        if key in REFUSED:
            raise ConfigError(f"cannot sweep {key}: {_REFUSED_WHY.get(key, 'one value only')}")
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"sweep {key} takes a list of values such as "
                              f"{key}=[{shown(values)}, ...], not {shown(values)}")
        if not values:
            raise ConfigError(f"sweep {key} has an empty list: give at least one value")
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            raise ConfigError(f"sweep {key} lists {shown(repeated[0])} twice; keep one")
    return list(sweep)


_REFUSED_WHY = {"name": "each run is named after its swept values",
                "data": "sweep one dataset at a time (one jaxtext.sweep per dataset)",
                "out": "save the runs you want with result.runs[i].save(folder)",
                "resume": "a sweep starts fresh", "init": "a sweep starts fresh",
                "checkpoint_every": "a sweep does not checkpoint"}


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- the ranking ---------------------------------------------------------------------------


def summary_row(index: int, point: dict[str, Any], history) -> dict[str, Any]:
    """A configuration's row: its number, swept values, status, final validation and test
    metrics (read off its ``History``)."""
    row = {"config": index, **point,
           "status": history.end.status if history.end is not None else "training"}
    validation = history.validation_rows
    if validation:
        row.update({f"validation_{k}": v for k, v in validation[-1].items()
                    if k not in ("kind", "step", "epoch", "elapsed_s")})
    if history.end is not None and history.end.test:
        row.update({f"test_{k}": v for k, v in history.end.test.items()})
    return row


def rank_rows(rows: list[dict[str, Any]], monitor: str,
              higher_is_better: bool) -> list[dict[str, Any]]:
    """Best final validation ``monitor`` first; rows without it last, in their order.

    >>> rows = [{"config": 0, "validation_accuracy": .6}, {"config": 1},
    ...         {"config": 2, "validation_accuracy": .8}]
    >>> [r["config"] for r in rank_rows(rows, "accuracy", True)]
    [2, 0, 1]
    """
    def rank(row):
        value = row.get(f"validation_{monitor}")
        if value is None or not math.isfinite(value):
            return (1, 0.0)
        return (0, -value if higher_is_better else value)

    return sorted(rows, key=rank)


class SweepResult:
    """Every run of a sweep, ranked: ``table`` (a DataFrame), ``best``, ``runs[i]``."""

    def __init__(self, plan: SweepPlan, runs: dict[int, Any]):
        self.plan = plan
        #: the trained runs in grid order (a stop before a group started leaves its out)
        self.runs = [runs[i] for i in sorted(runs)]
        self.indices = sorted(runs)  # runs[k] trained plan.configs[indices[k]]

    rank_rows = staticmethod(rank_rows)

    def rows(self) -> list[dict[str, Any]]:
        rows = [summary_row(i, self.plan.values[i], run.record)
                for i, run in zip(self.indices, self.runs, strict=True)]
        return rank_rows(rows, self.plan.monitor, self.plan.higher_is_better)

    @property
    def table(self):
        """pandas DataFrame: swept keys, status, final validation and test metrics; ranked by
        the validation ``monitor`` metric (the index is the configuration's number)."""
        import pandas as pd

        return pd.DataFrame(self.rows()).set_index("config")

    @property
    def best(self):
        """The run with the best final validation metric."""
        return self.runs[self.indices.index(self.rows()[0]["config"])]

    @property
    def status(self) -> str:
        stopped = len(self.runs) < len(self.plan.configs) or any(
            r.status == "interrupted" for r in self.runs)
        return "interrupted" if stopped else "completed"

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, index: int):
        """The run of configuration ``index`` (the ``config`` column of ``table``)."""
        if index not in self.indices:
            raise IndexError(f"configuration {index} was not trained (trained: "
                             f"{', '.join(map(str, self.indices))})")
        return self.runs[self.indices.index(index)]

    def __repr__(self) -> str:
        return (f"<SweepResult {self.plan.name}: {len(self.runs)} runs over "
                f"{', '.join(self.plan.keys)} in {len(self.plan.groups)} group(s), "
                f"{self.status}; best {self.plan.monitor} by validation>\n"
                f"{self.table.to_string()}")

    def _repr_html_(self) -> str:
        import html

        return (f"<b>{html.escape(self.plan.name)}</b>: {len(self.runs)} runs, "
                f"{self.status}, ranked by validation {html.escape(self.plan.monitor)}"
                + self.table.to_html(float_format=lambda v: f"{v:.4f}"))
