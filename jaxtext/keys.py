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
    if model is None:
        return (
            "config keys (defaults):\n"
            + _format_rows(key_rows(Config))
            + "\nmodel keys: python -m jaxtext help MODEL  |  %jaxtext help MODEL"
        )
    from jaxtext.registry import models

    config_cls = getattr(models.get(model), "Config", None)
    if config_cls is None:
        return f"model '{model}' has no keys of its own"
    return (
        f"keys of model '{model}' (like any key: 'key: value' in a body or file, --key VALUE):\n"
        + _format_rows(key_rows(config_cls))
    )


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
