"""The config keys with their defaults and comments: what ``python -m jaxtext help [MODEL]`` and
``%jaxtext help [MODEL]`` print.

The comments are read from the config classes' source (``key: type = default  # comment``), so
the help cannot drift from the code: one commented line per knob is the documentation.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

from jaxtext.config import Config
from jaxtext.model_presets import model_presets, presets_text
from jaxtext.tasks import TASKS


def key_rows(config_cls: type = Config) -> list[tuple[str, str, str]]:
    """(key, repr of default, comment) for each field of a config dataclass.

    >>> key_rows()[0][:2]
    ('model', "'mlp'")
    """
    comments = _field_comments(config_cls)
    rows = []
    for f in dataclasses.fields(config_cls):
        if f.name == "model_args":
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        rows.append((f.name, default, comments.get(f.name, "")))
    return rows


def keys_table(config_cls: type = Config):
    """``key_rows`` as a pandas DataFrame (columns key, default, help) for notebooks."""
    import pandas as pd

    return pd.DataFrame(key_rows(config_cls), columns=["key", "default", "help"])


def keys_text(model: str | None = None) -> str:
    """The core keys with defaults and comments, or one registered model's own keys.

    An unknown model raises the registry's one-line ``UnknownNameError`` with a suggestion.

    >>> keys_text("lstm").splitlines()[1].split(maxsplit=2)
    ['dim:', '128', 'token embedding size']
    """
    from jaxtext.registry import models

    if model is None:
        return (
            "config keys (defaults):\n"
            + _format_rows(key_rows(Config))
            + _presets_line(models)
            + "\nmodel keys and presets: python -m jaxtext help MODEL  |  %jaxtext help MODEL"
        )
    model_cls = models.get(model)
    config_cls = getattr(model_cls, "Config", None)
    own = (f"keys of model '{model}' (like any key: 'key: value' in a body or file, "
           f"--key VALUE):\n" + _format_rows(key_rows(config_cls))
           if config_cls is not None else f"model '{model}' has no keys of its own\n")
    listed = presets_text(model_cls, model)
    return own + ("\n" + listed if listed else "")


def _presets_line(models) -> str:
    """"presets: mlp classify: accurate; ..." over the built-in models (loading a plugin
    just to list its presets could fail or be slow; ``help MODEL`` shows any model's)."""
    found = [f"{name} {task}: {', '.join(named)}"
             for name, source in models.sources().items() if source == "built-in"
             for task in TASKS
             if (named := model_presets(models.get(name), name, task))]
    return f"\npresets (preset: NAME): {'; '.join(found)}\n" if found else ""


def _field_comments(config_cls: type) -> dict[str, str]:
    """``name: type = default  # help`` -> {name: help}, read from the class source."""
    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):
        return {}
    pattern = re.compile(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", re.M)
    return {name: text.strip() for name, text in pattern.findall(source)}


def _format_rows(rows: list[tuple[str, str, str]]) -> str:
    width = max((len(key) + len(default) for key, default, _ in rows), default=0) + 4
    return "".join(f"  {f'{key}: {default}':<{width}}{text}\n" for key, default, text in rows)
