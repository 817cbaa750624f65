"""The one place text becomes settings, for every entry point.

A ``%%train`` cell body, a CLI ``--config`` file, CLI flags, ``--set key=VALUE``, magic-line
flags and ``%train NAME key=VALUE`` all go through these functions, so a key typed anywhere
means the same thing everywhere.

Values are YAML 1.2 core-schema scalars, not YAML 1.1 (PyYAML's default):

* ints: ``3``, ``-1``, ``+2``, ``0x1f``, ``0o17``; ``_`` may separate digits as in Python
  (``30_000``, ``0x_ff``);
* floats: ``1e-3``, ``-1e-3``, ``.5``, ``3.``, ``1.5e+2``, ``.inf``, ``-.inf``, ``.nan``;
* booleans: only ``true``/``True``/``TRUE`` and ``false``/``False``/``FALSE``;
* null: ``null``/``Null``/``NULL``/``~`` or nothing;
* everything else is text: ``no``, ``off``, ``yes``, ``on``, ``1:30`` (no base-60),
  ``2024-01-01`` (no timestamps), ``csv:data/x.csv``. A bool key such as ``lowercase`` still
  takes yes/no/on/off: ``Config`` coerces those words, so ``name: no`` stays the text 'no'.

Precedence, the same everywhere: defaults < cell body or config file < line / CLI tokens,
the tokens in the order given (later wins: ``--epochs 1 --epochs 2`` is 2). A key twice in one
body or file is refused. Every mistake is one ``ConfigError`` line naming the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import ScalarNode, SequenceNode

from jaxtext.errors import ConfigError, did_you_mean, not_utf8, shown

__all__ = [
    "did_you_mean",
    "merge_settings",
    "parse_tokens",
    "parse_value",
    "parse_yaml_settings",
    "read_settings_file",
    "split_sweep_tokens",
]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# YAML 1.2 core schema, with Python's digit separators (one `_` between digits).
_DEC = r"[0-9](?:_?[0-9])*"
_EXP = rf"[eE][-+]?{_DEC}"
_INT = re.compile(rf"^(?:[-+]?{_DEC}|0x_?[0-9a-fA-F](?:_?[0-9a-fA-F])*|0o_?[0-7](?:_?[0-7])*)$")
_FLOAT = re.compile(
    rf"^(?:[-+]?(?:{_DEC}\.(?:{_DEC})?(?:{_EXP})?|\.{_DEC}(?:{_EXP})?|{_DEC}{_EXP})"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_DECIMAL = re.compile(rf"^[-+]?{_DEC}$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TAG = "tag:yaml.org,2002:"


def _int_of(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if digits.startswith(("0x", "0o")):
        return int(digits[2:], 16 if digits[1] == "x" else 8)
    return sign * int(digits, 10)


def _float_of(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith((".inf", ".nan")):
        return float(lowered.replace(".", ""))  # "-.inf" -> float("-inf")
    return float(text.replace("_", ""))


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key, line)
        self.key, self.line = key, line


class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema instead of 1.1, and duplicate keys refused.

    Only SafeLoader's constructors exist (no ``!!python/...``); a constructor that fails with
    a non-YAML exception (``!!timestamp garbage``) becomes a YAML error at that node.
    """

    yaml_implicit_resolvers: dict = {}  # not inherited: YAML 1.1's yes/no, 1:30, dates are gone

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, _DuplicateKey):
            raise
        except Exception:  # e.g. AttributeError inside the timestamp constructor
            raise ConstructorError(
                None, None, f"{_short_tag(node.tag)} cannot read {shown(_node_text(node))}",
                node.start_mark,
            ) from None

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark.line)
                seen.add(key)
            except TypeError:  # unhashable: SafeConstructor refuses it with its own message
                pass
        return super().construct_mapping(node, deep)

    def _scalar(self, node, pattern: re.Pattern, convert, kind: str):
        text = self.construct_scalar(node)
        if not pattern.fullmatch(text):
            raise ConstructorError(None, None, f"{text!r} is not {kind}", node.start_mark)
        return convert(text)

    def construct_int(self, node):
        return self._scalar(node, _INT, _int_of, "an int")

    def construct_float(self, node):
        if _DECIMAL.fullmatch(self.construct_scalar(node)):
            return float(_int_of(node.value))  # `!!float 3`
        return self._scalar(node, _FLOAT, _float_of, "a float")

    def construct_bool(self, node):
        return self._scalar(node, _BOOL, lambda t: t.lower() == "true", "true or false")

    def construct_null(self, node):
        return self._scalar(node, _NULL, lambda t: None, "null")


for _tag, _pattern, _first in (
    ("bool", _BOOL, "tTfF"),
    ("int", _INT, "-+0123456789"),  # before float: "3" is an int
    ("float", _FLOAT, "-+0123456789."),
    ("null", _NULL, ["~", "n", "N", ""]),
):
    _Loader.add_implicit_resolver(_TAG + _tag, _pattern, list(_first))
    _Loader.add_constructor(_TAG + _tag, getattr(_Loader, f"construct_{_tag}"))


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _node_text(node) -> str:
    return node.value if isinstance(node.value, str) else f"<{node.id}>"


def parse_yaml_settings(
    text: str, source: str = "the cell body", first_line: int = 1
) -> dict[str, Any]:
    """``key: value`` lines -> dict; empty or comment-only text gives ``{}``.

    ``source`` names the text in errors ("the cell body", "config file 'x.yaml'");
    ``first_line`` numbers its first line (2 for a body under ``%%train``).

    >>> parse_yaml_settings("model: lstm\\nlr: 3e-3\\nname: no\\nepochs: 0x10")
    {'model': 'lstm', 'lr': 0.003, 'name': 'no', 'epochs': 16}
    >>> parse_yaml_settings("lr: 1\\nlr: 2")
    Traceback (most recent call last):
    jaxtext.errors.ConfigError: duplicate key 'lr' at line 2 of the cell body; keep one
    """
    if not isinstance(text, str):
        raise ConfigError(f"{source} must be text ('key: value' lines), not "
                          f"{type(text).__name__}")
    try:
        values = yaml.load(text, Loader=_Loader)
    except _DuplicateKey as e:
        raise ConfigError(
            f"duplicate key {e.key!r} at line {e.line + first_line} of {source}; keep one"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML{_where(e, text, first_line)}: "
                          f"{_problem(e)}") from None
    except RecursionError:
        raise ConfigError(f"{source} is nested too deeply to be settings") from None
    except Exception as e:  # a safe constructor failing outside a node (defensive)
        raise ConfigError(f"{source} is not valid YAML: {type(e).__name__}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be YAML 'key: value' lines, got a {type(values).__name__}")
    for key in values:
        _check_key(key)
    return values


def _where(error: yaml.YAMLError, text: str, first_line: int) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return ""
    lines = text.splitlines() or [""]
    line = min(mark.line, len(lines) - 1)  # "end of stream": the last line is unfinished
    shown = lines[line].strip()
    return f" at line {line + first_line}" + (f" ({shown[:40]!r})" if shown else "")


def _problem(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or str(error)
    return (problem.splitlines() or [type(error).__name__])[0][:200]


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ConfigError(f"config keys are names such as 'epochs', not {shown(key)}")
    return key


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file (``--config FILE``) -> dict, read like a cell body."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(not_utf8(f"config file '{path}'", e)) from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"cannot read config file '{path}': {reason}") from None
    return parse_yaml_settings(text, source=f"config file '{path}'")


def parse_value(text: str) -> Any:
    """One value from a line (``--key VALUE``, ``key=VALUE``), typed like a body value.

    Text that is not one YAML scalar (``a: b``, ``#x``, ``[unclosed``, ``''``) stays text, so
    prompts and paths need no quoting; ``[a, b]`` is a list.

    >>> parse_value("3e-3"), parse_value("-1e-3"), parse_value("30_000"), parse_value("true")
    (0.003, -0.001, 30000, True)
    >>> parse_value("no"), parse_value("1:30"), parse_value("[a, b]"), parse_value("a: b")
    ('no', '1:30', ['a', 'b'], 'a: b')
    """
    if not isinstance(text, str):
        raise ConfigError(f"a setting's value is text, not {type(text).__name__}")
    if not text.strip():
        return text
    try:
        loader = _Loader(text)
    except yaml.YAMLError:  # e.g. a control character: not YAML, so text
        return text
    try:
        try:
            node = loader.get_single_node()
        except (yaml.YAMLError, RecursionError):
            return text
        one_value = isinstance(node, ScalarNode) or (
            isinstance(node, SequenceNode) and node.flow_style
        )
        if not one_value:
            return text
        try:
            return loader.construct_document(node)
        except (yaml.YAMLError, _DuplicateKey) as e:  # e.g. `!!int x`: refused as in a body
            raise ConfigError(f"value {shown(text)} is not valid YAML: {_problem(e)}") from None
        except RecursionError:
            raise ConfigError(f"value {shown(text)} is nested too deeply") from None
    finally:
        loader.dispose()


def parse_tokens(tokens: list[str]) -> dict[str, Any]:
    """Line / CLI settings -> dict, later tokens winning.

    Forms: ``--key VALUE``, ``--key=VALUE``, bare ``--key`` (true), ``--set key=VALUE``,
    ``--set=key=VALUE`` and ``key=VALUE``; ``--max-len`` is ``max_len``. After ``--key`` the next token is its value
    unless it starts with ``--`` (so ``--lr -1e-3`` is a value).

    >>> parse_tokens(["--epochs", "1", "--lr", "-1e-3", "--set", "name=no", "--epochs=2"])
    {'epochs': 2, 'lr': -0.001, 'name': 'no'}
    >>> parse_tokens(["--max-len", "64", "--lowercase", "--prompt", "a: b", "hidden=0x40"])
    {'max_len': 64, 'lowercase': True, 'prompt': 'a: b', 'hidden': 64}
    >>> parse_tokens(["--set=dim=8"])
    {'dim': 8}
    """
    if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
        raise ConfigError("settings are a list of text tokens such as ['--epochs', '2']")
    settings: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--set":
            if i == len(tokens) or "=" not in tokens[i]:
                raise ConfigError("--set needs KEY=VALUE, e.g. --set hidden=64")
            token, i = tokens[i], i + 1
        elif token.startswith("--set="):  # --set=KEY=VALUE
            token = token[len("--set="):]
            if "=" not in token:
                raise ConfigError("--set needs KEY=VALUE, e.g. --set=hidden=64")
        elif token.startswith("--"):
            token = token[2:]
            if "=" not in token:
                if i < len(tokens) and not tokens[i].startswith("--"):
                    key, value = token, parse_value(tokens[i])
                    i += 1
                else:
                    key, value = token, True
                settings[_token_key(key)] = value
                continue
        elif "=" not in token:
            raise ConfigError(f"unexpected {shown(token)}: settings are --key VALUE or key=VALUE")
        key, _, text = token.partition("=")
        settings[_token_key(key)] = parse_value(text)
    return settings


def _token_key(key: str) -> str:
    name = key.replace("-", "_")
    if not _KEY.match(name):
        raise ConfigError(f"{shown(key)} is not a config key name")
    return name


def merge_settings(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Layers of settings, lowest first (defaults, body or file, tokens): later keys win.

    >>> merge_settings({"epochs": 3, "lr": 0.1}, None, {"epochs": 1})
    {'epochs': 1, 'lr': 0.1}
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer or {})
    return merged


def parse_sweep_values(text: str) -> tuple[str, list[Any]]:
    """One ``--sweep`` option: ``KEY=V1,V2,...`` (or ``KEY=[V1, V2]``) -> (key, values), each
    value typed like a body value.

    >>> parse_sweep_values("lr=1e-3,3e-3"), parse_sweep_values("model=[mlp, lstm]")
    (('lr', [0.001, 0.003]), ('model', ['mlp', 'lstm']))
    """
    key, eq, values = text.partition("=") if isinstance(text, str) else ("", "", "")
    if not eq or not key.strip() or not values.strip():
        raise ConfigError(f"--sweep takes KEY=V1,V2,... such as --sweep lr=1e-3,3e-3, not "
                          f"{shown(text)}")
    parsed = parse_value(values.strip())
    if not isinstance(parsed, list):
        parsed = [parse_value(v.strip()) for v in values.split(",")]
    if any(v == "" for v in parsed):
        raise ConfigError(f"--sweep {key}: an empty value in {shown(values)}; e.g. "
                          f"--sweep {key}=1,2")
    return _token_key(key.strip()), parsed


def split_sweep_tokens(tokens: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """Take every ``--sweep KEY=V1,V2`` (or ``--sweep=KEY=...``) out of line / CLI tokens:
    (the other tokens, in order; swept key -> values, later winning).

    >>> split_sweep_tokens(["--epochs", "1", "--sweep", "lr=1e-3,1e-2", "--sweep=seed=0,1"])
    (['--epochs', '1'], {'lr': [0.001, 0.01], 'seed': [0, 1]})
    """
    rest, sweep, i = [], {}, 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--sweep":
            if i == len(tokens):
                raise ConfigError("--sweep needs KEY=V1,V2,..., e.g. --sweep lr=1e-3,3e-3")
            token, i = "--sweep=" + tokens[i], i + 1
        if token.startswith("--sweep="):
            key, values = parse_sweep_values(token[len("--sweep="):])
            sweep[key] = values
        else:
            rest.append(token)
    return rest, sweep
