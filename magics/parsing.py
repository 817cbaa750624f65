"""Turn a magic's line and cell body into plain values for ``jaxtext.train`` and ``Run``.

Pure functions of text and a namespace dict: no IPython, no training, so every rule is
unit-testable. Every mistake raises ``jaxtext.ConfigError`` with one line naming the fix;
the magics show it as a ``UsageError``.

Grammar of ``%%train`` / ``%train``:

    NAME [--key VALUE | --key=VALUE | --key | --set key=VALUE | key=VALUE] ...

* The body and every value are read by ``jaxtext.settings``, exactly as the CLI reads a
  ``--config`` file and its flags: YAML 1.2 scalars (``3``, ``1e-3``, ``true``; ``no`` and
  ``1:30`` stay text), later settings win, line over body over ``JaxtextMagics.defaults``,
  a key twice in the body is refused.
* A value that is exactly ``$name`` is the object bound to ``name`` in the user namespace
  (a DataFrame, a list of texts, a number...); ``$name.attr`` is that object's attribute
  (``lr: $finder.suggested``).
* ``callbacks`` is the ``callbacks=`` argument of ``jaxtext.train``, not a config key.
"""

from __future__ import annotations

import keyword
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jaxtext import ConfigError, settings

TRAIN_USAGE = "usage: %%train NAME [--key VALUE ...] (cell body: YAML 'key: value' lines)"
LR_FIND_USAGE = ("usage: %%lr_find NAME [--steps N --start-lr LR --end-lr LR --key VALUE ...] "
                 "(cell body: the %%train body)")
_VARIABLE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")


def resolve_variables(values: dict[str, Any], user_ns: Mapping[str, Any]) -> dict[str, Any]:
    """Replace every value that is exactly ``$name`` (or ``$name.attr``) by ``user_ns[name]``
    (or its attribute)."""
    out = {}
    for key, value in values.items():
        match = _VARIABLE.match(value) if isinstance(value, str) else None
        if match:
            var, attrs = match.group(1), match.group(2)
            if var not in user_ns:
                hint = settings.did_you_mean(var, [n for n in user_ns if not n.startswith("_")])
                raise ConfigError(f"{key}: ${var} names no variable in the notebook{hint}")
            value = user_ns[var]
            for attr in attrs.split(".")[1:]:
                if not hasattr(value, attr):
                    public = [a for a in dir(value) if not a.startswith("_")]
                    hint = settings.did_you_mean(attr, public)
                    raise ConfigError(f"{key}: ${var} (a {type(value).__name__}) has no "
                                      f"attribute {attr!r}{hint}")
                value = getattr(value, attr)
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


@dataclass(frozen=True)
class TrainCommand:
    """What one ``%%train`` / ``%train`` asks for: ``jaxtext.train(config, callbacks=...)``
    (and ``%%lr_find``, the same body and flags, for ``jaxtext.lr_find``)."""

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
        usage: str = TRAIN_USAGE,
    ) -> TrainCommand:
        """Parse the magic line and YAML body; raises ConfigError on any mistake.

        >>> TrainCommand.parse("clf --epochs 1", "model: lstm\\nepochs: 5").config
        {'model': 'lstm', 'epochs': 1, 'name': 'clf'}
        """
        tokens = split_line(line)
        name = check_name(tokens[0] if tokens else None, usage)
        merged = settings.merge_settings(
            defaults,
            settings.parse_yaml_settings(body or "", first_line=2),
            settings.parse_tokens(tokens[1:]),
        )
        merged = resolve_variables(merged, user_ns or {})
        callbacks = merged.pop("callbacks", None)
        merged.setdefault("name", name)
        return cls(name=name, config=merged, callbacks=callbacks)


SWEEP_USAGE = ("usage: %%sweep NAME [--key VALUE ...] [--sweep KEY=V1,V2 ...] (cell body: "
               "YAML 'key: value' lines and a 'sweep:' mapping of key: [values])")


@dataclass(frozen=True)
class SweepCommand:
    """What one ``%%sweep`` asks for: ``jaxtext.sweep(config, callbacks=..., **sweep)``.

    The body is a ``%%train`` body plus one ``sweep:`` mapping whose keys are swept over their
    lists; ``--sweep KEY=V1,V2`` on the line adds or replaces one swept key::

        %%sweep grid --epochs 1 --sweep seed=0,1
        model: mlp
        sweep:
          lr: [1e-3, 3e-3, 1e-2]
    """

    name: str  # the variable the SweepResult is bound to
    config: dict[str, Any]  # the settings every configuration shares
    sweep: dict[str, Any]  # swept key -> its values (jaxtext.sweep checks them)
    callbacks: Any = None

    @classmethod
    def parse(cls, line: str, body: str = "", user_ns: Mapping[str, Any] | None = None,
              defaults: Mapping[str, Any] | None = None) -> SweepCommand:
        """
        >>> c = SweepCommand.parse("g --sweep seed=0,1", "model: mlp\\nsweep:\\n  lr: [1, 2]")
        >>> c.config, c.sweep
        ({'model': 'mlp', 'name': 'g'}, {'lr': [1, 2], 'seed': [0, 1]})
        """
        tokens = split_line(line)
        name = check_name(tokens[0] if tokens else None, SWEEP_USAGE)
        rest, line_sweep = settings.split_sweep_tokens(tokens[1:])
        body_settings = settings.parse_yaml_settings(body or "", first_line=2)
        body_sweep = body_settings.pop("sweep", {})
        if not isinstance(body_sweep, Mapping):
            raise ConfigError(f"sweep: in the body is a mapping of key: [values] lines, "
                              f"e.g. 'sweep:\\n  lr: [1e-3, 3e-3]'; {SWEEP_USAGE}")
        merged = settings.merge_settings(defaults, body_settings, settings.parse_tokens(rest))
        merged = resolve_variables(merged, user_ns or {})
        callbacks = merged.pop("callbacks", None)
        merged.setdefault("name", name)
        swept = {**body_sweep, **line_sweep}
        if not swept:
            raise ConfigError(f"nothing to sweep: add a 'sweep:' mapping to the body or "
                              f"--sweep KEY=V1,V2 to the line; {SWEEP_USAGE}")
        return cls(name=name, config=merged, sweep=swept, callbacks=callbacks)


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


@dataclass(frozen=True)
class CompareCommand:
    """``%jaxtext compare a b runs/c [--by step|epoch|time] [--metric NAME]``."""

    runs: list[str]
    by: str = "step"
    metric: str = "loss"

    @classmethod
    def parse(cls, line: str) -> CompareCommand:
        """The words after ``compare``: runs (names or folders) and two options.

        >>> CompareCommand.parse("a 'runs/b c' --by epoch")
        CompareCommand(runs=['a', 'runs/b c'], by='epoch', metric='loss')
        """
        usage = ("usage: %jaxtext compare RUN RUN ... [--by step|epoch|time] [--metric NAME] "
                 "(a RUN: a run in the notebook or a saved run folder)")
        tokens, runs, options = split_line(line), [], {}
        while tokens:
            token = tokens.pop(0)
            option, eq, value = token.partition("=")
            if option in ("--by", "--metric"):
                if not eq:
                    if not tokens:
                        raise ConfigError(f"{option} needs a value; {usage}")
                    value = tokens.pop(0)
                options[option[2:]] = value
            elif token.startswith("-"):
                raise ConfigError(f"unknown option '{token}'; {usage}")
            else:
                runs.append(token)
        if not runs:
            raise ConfigError(f"nothing to compare; {usage}")
        return cls(runs=runs, **options)


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
    hint = settings.did_you_mean(name, runs) or (f"; runs here: {', '.join(runs)}" if runs else "")
    raise ConfigError(f"no run named '{name}' in the notebook{hint}")
