"""Turn a magic's line and cell body into plain values for ``jaxtext.train`` and ``Run``.

Pure functions of text and a namespace dict: no IPython, no training, so every rule is
unit-testable. Every mistake raises ``jaxtext.ConfigError`` with one line naming the fix;
the magics show it as a ``UsageError``.

Grammar of ``%%train`` / ``%train`` (later settings win):

    NAME [--key VALUE | --key=VALUE | --key | --set key=VALUE | key=VALUE] ...

* ``--max-len 128`` and ``max_len=128`` mean the same key; a bare ``--key`` means ``true``.
* Values (on the line and in the body) are YAML, so ``3``, ``3e-3``, ``true``, ``[a, b]``
  come out typed. A value that is exactly ``$name`` is the object bound to ``name`` in the
  user namespace (a DataFrame, a list of texts, a number...).
* ``callbacks`` is the ``callbacks=`` argument of ``jaxtext.train``, not a config key.
"""

from __future__ import annotations

import keyword
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from jaxtext.errors import ConfigError, did_you_mean

TRAIN_USAGE = "usage: %%train NAME [--key VALUE ...] (cell body: YAML 'key: value' lines)"
_VARIABLE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NULLS = ("null", "Null", "NULL", "~")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``3e-3`` as a float (YAML 1.1 wants ``3.0e-3``)."""


# The YAML 1.2 float rule: learning rates such as 1e-3 are the common case here.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_body(body: str, first_line: int = 1) -> dict[str, Any]:
    """The cell body as a dict of settings; empty or comment-only bodies give ``{}``.

    ``first_line`` numbers the body's first line in errors (2 in a cell under ``%%train``).

    >>> parse_body("model: lstm\\nlr: 3e-3")
    {'model': 'lstm', 'lr': 0.003}
    """
    try:
        values = yaml.load(body, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = ""
        if mark is not None:
            lines = body.splitlines() or [""]
            line = min(mark.line, len(lines) - 1)  # "end of stream": the last line is unfinished
            text = lines[line].strip()
            where = f" at line {line + first_line}" + (f" ({text[:40]!r})" if text else "")
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"the cell body is not valid YAML{where}: {problem}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"the cell body must be YAML 'key: value' lines, got a {type(values).__name__}"
        )
    for key in values:
        if not isinstance(key, str) or not _KEY.match(key):
            raise ConfigError(f"config keys are names such as 'epochs', not {key!r}")
    return values


def parse_value(text: str) -> Any:
    """A line value, typed by YAML; text YAML would mangle (``a: b``, ``#x``, ``''``) stays text.

    >>> parse_value("3e-3"), parse_value("true"), parse_value("[a, b]"), parse_value("it's")
    (0.003, True, ['a', 'b'], "it's")
    """
    if not text.strip():
        return text
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text
    if isinstance(value, dict) or (value is None and text.strip() not in _NULLS):
        return text
    return value


def resolve_variables(values: dict[str, Any], user_ns: Mapping[str, Any]) -> dict[str, Any]:
    """Replace every value that is exactly ``$name`` by ``user_ns[name]``."""
    out = {}
    for key, value in values.items():
        match = _VARIABLE.match(value) if isinstance(value, str) else None
        if match:
            var = match.group(1)
            if var not in user_ns:
                names = [n for n in user_ns if not n.startswith("_")]
                raise ConfigError(
                    f"{key}: ${var} names no variable in the notebook{did_you_mean(var, names)}"
                )
            value = user_ns[var]
        out[key] = value
    return out


def check_name(name: str | None, usage: str) -> str:
    """The target variable name, or a ConfigError saying what a good one looks like."""
    if not name or name.startswith("-") or "=" in name:
        raise ConfigError(f"missing NAME for the result; {usage}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"NAME must be a Python variable name, not '{name}'; {usage}")
    return name


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as e:  # unbalanced quotes
        raise ConfigError(f"cannot read the magic line: {e}") from None


def parse_settings(tokens: list[str]) -> dict[str, Any]:
    """``--key VALUE``, ``--key=VALUE``, bare ``--key``, ``--set k=v`` and ``k=v`` -> dict."""
    settings: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--set":
            if i == len(tokens) or "=" not in tokens[i]:
                raise ConfigError("--set needs KEY=VALUE, e.g. --set hidden=64")
            token, i = tokens[i], i + 1
        elif token.startswith("--"):
            token = token[2:]
            if "=" not in token:
                takes_value = i < len(tokens) and not tokens[i].startswith("--")
                token += "=" + (tokens[i] if takes_value else "true")
                i += takes_value
        elif "=" not in token:
            raise ConfigError(f"unexpected '{token}': settings are --key VALUE or key=VALUE")
        key, _, text = token.partition("=")
        key = key.replace("-", "_")
        if not _KEY.match(key):
            raise ConfigError(f"'{key}' is not a config key name")
        settings[key] = parse_value(text)
    return settings


@dataclass(frozen=True)
class TrainCommand:
    """What one ``%%train`` / ``%train`` asks for: ``jaxtext.train(config, callbacks=...)``."""

    name: str  # the variable the run is bound to
    config: dict[str, Any]  # defaults < body < line, ``$var`` resolved; jaxtext.train validates
    callbacks: Any = None  # None = the magic's configured default

    @classmethod
    def parse(
        cls,
        line: str,
        body: str = "",
        user_ns: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> TrainCommand:
        """Parse the magic line and YAML body; raises ConfigError on any mistake.

        >>> TrainCommand.parse("clf --epochs 1", "model: lstm\\nepochs: 5").config
        {'model': 'lstm', 'epochs': 1, 'name': 'clf'}
        """
        tokens = split_line(line)
        name = check_name(tokens[0] if tokens else None, TRAIN_USAGE)
        merged = {
            **(defaults or {}),
            **parse_body(body or "", first_line=2),
            **parse_settings(tokens[1:]),
        }
        merged = resolve_variables(merged, user_ns or {})
        callbacks = merged.pop("callbacks", None)
        merged.setdefault("name", name)
        return cls(name=name, config=merged, callbacks=callbacks)


@dataclass(frozen=True)
class PredictCommand:
    """``%predict NAME text`` (one text) or ``%%predict NAME`` (one text per body line)."""

    name: str
    texts: list[str] = field(default_factory=list)

    @classmethod
    def parse(
        cls, line: str, body: str | None = None, user_ns: Mapping[str, Any] | None = None
    ) -> PredictCommand:
        usage = "usage: %predict NAME some text  |  %predict NAME $texts  |  %%predict NAME"
        name, _, rest = line.strip().partition(" ")
        name = check_name(name, usage)
        rest = rest.strip()
        texts = [t.strip() for t in (body or "").splitlines() if t.strip()]
        if rest:
            match = _VARIABLE.match(rest)
            value = resolve_variables({"text": rest}, user_ns or {})["text"] if match else rest
            texts = [value] + texts if isinstance(value, str) else list(value) + texts
        if not texts:
            raise ConfigError(f"nothing to predict; {usage}")
        if not all(isinstance(t, str) for t in texts):
            raise ConfigError("%predict needs texts (a string or a list of strings)")
        return cls(name=name, texts=texts)


def find_run(name: str, user_ns: Mapping[str, Any], method: str) -> Any:
    """``user_ns[name]`` if it has ``method`` (i.e. is a Run); else a ConfigError naming the runs."""
    value = user_ns.get(name)
    if value is not None and callable(getattr(value, method, None)):
        return value
    if name in user_ns:
        raise ConfigError(
            f"'{name}' is a {type(value).__name__}, not a run; train one with %%train {name}"
        )
    runs = sorted(
        n
        for n, v in user_ns.items()
        if not n.startswith("_") and not isinstance(v, type) and callable(getattr(v, method, None))
    )
    hint = did_you_mean(name, runs) or (f"; runs here: {', '.join(runs)}" if runs else "")
    raise ConfigError(f"no run named '{name}' in the notebook{hint}")
