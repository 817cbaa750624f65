"""Presets: named bundles of settings a model declares per task, chosen with one key.

``preset: accurate`` (a cell body), ``--preset accurate`` (the CLI) or
``jaxtext.train(preset="accurate")`` applies the settings the model lists under that name
for the run's task, like its ``training_defaults``: the model's defaults first, then the
preset, then every key given explicitly, so ``preset: accurate`` with ``lr: 0.01`` keeps the
rest of the preset and the given rate. The run's config holds the resulting values, so a saved
run or a dashboard shows what was actually used.

A model declares presets with a static method (or a plain dict, the same for every task)::

    @staticmethod
    def presets(task: str) -> dict[str, dict]:
        return {"accurate": {"ngrams": 2, "lr": 0.05}} if task == "classify" else {}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jaxtext.errors import ConfigError, did_you_mean, shown

# keys a preset may not set: they decide which presets exist (or are the preset itself)
_NOT_IN_PRESETS = ("model", "task", "preset")


def model_presets(model_cls: Any, model_name: str, task: str) -> dict[str, dict[str, Any]]:
    """``{name: settings}`` the model class declares for ``task`` ({} when none)."""
    declared = getattr(model_cls, "presets", None)
    if callable(declared):
        declared = declared(task)
    if not declared:
        return {}
    if not isinstance(declared, Mapping) or not all(
            isinstance(name, str) and isinstance(keys, Mapping) for name, keys in declared.items()):
        raise ConfigError(f"model '{model_name}': presets must map names to dicts of settings, "
                          f"got {shown(declared)}")
    for name, keys in declared.items():
        bad = sorted(set(keys) & set(_NOT_IN_PRESETS))
        if bad:
            raise ConfigError(f"model '{model_name}': preset '{name}' may not set "
                              f"{', '.join(bad)}")
    return {name: dict(keys) for name, keys in declared.items()}


def preset_settings(model_cls: Any, model_name: str, task: str, name: Any) -> dict[str, Any]:
    """The settings of preset ``name`` ("" = none) or a one-line ``ConfigError`` naming the
    presets the model has for the task."""
    if name == "" or name is None:
        return {}
    if not isinstance(name, str):
        raise ConfigError(f"preset must be a preset's name such as 'accurate', not "
                          f"{shown(name)} ({type(name).__name__})")
    available = model_presets(model_cls, model_name, task)
    if name not in available:
        listed = (f"presets of model '{model_name}' for task '{task}': {', '.join(available)}"
                  if available else f"model '{model_name}' has no presets for task '{task}'")
        raise ConfigError(f"unknown preset {shown(name)}{did_you_mean(name, available)}; "
                          f"{listed}")
    return available[name]


def presets(model: str = "mlp", task: str = "classify") -> dict[str, dict[str, Any]]:
    """The presets a registered model declares for ``task``: ``{name: settings}``.

    >>> sorted(presets("mlp", "classify"))
    ['accurate']
    """
    from jaxtext.registry import models

    return model_presets(models.get(model), model, task)


def presets_text(model_cls: Any, model_name: str) -> str:
    """One line per (task, preset) with its settings, for ``help MODEL``; "" when none."""
    from jaxtext.tasks import TASKS

    lines = []
    for task in TASKS:
        for name, keys in model_presets(model_cls, model_name, task).items():
            settings = ", ".join(f"{k}: {v!r}" for k, v in keys.items())
            lines.append(f"  {name} ({task}): {settings}\n")
    if not lines:
        return ""
    return (f"presets of model '{model_name}' (preset: NAME | --preset NAME; explicit keys "
            "win):\n" + "".join(lines))
