"""Errors a user can act on: one short line naming the problem and the fix.

Front ends (CLI, magics) print ``str(err)`` without a traceback for any ``JaxtextError``.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any


class JaxtextError(Exception):
    """Base class of every error jaxtext raises on purpose (bad input, failed run)."""


class ConfigError(JaxtextError, ValueError):
    """A config key, type or value is wrong."""


class DataError(JaxtextError, ValueError):
    """A dataset cannot be loaded or lacks what the task needs (a column, rows)."""


class UnknownNameError(JaxtextError, KeyError):
    """A registry lookup failed (model, dataset, tokenizer, callback)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RunFolderError(JaxtextError, OSError):
    """A run folder cannot be written or read: names the file and the problem."""

    def __str__(self) -> str:  # OSError would show its args tuple
        return str(self.args[0])


class TrainingError(JaxtextError, RuntimeError):
    """Training failed (e.g. NaN loss). ``run`` holds the last good weights."""

    def __init__(self, message: str, run=None):
        super().__init__(message)
        self.run = run


class Cancelled(TrainingError):
    """Stopped (the Stop button, Ctrl-C) before any step was trained; there is no run."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    text = name if isinstance(name, str) else shown(name)
    close = difflib.get_close_matches(text[:100], list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _ShortRepr(reprlib.Repr):
    """``reprlib`` with a bound on ints too (``repr`` of a 5000-digit int raises)."""

    def repr_int(self, x: int, level: int) -> str:
        return repr(x) if abs(x) < 10**30 else f"<{x.bit_length()}-bit int>"


_SHORT = _ShortRepr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 3


def shown(value: Any) -> str:
    """A short repr of any value for a one-line message: long strings, big containers,
    deep nesting and huge ints are cut (``repr`` could be megabytes, or raise).

    >>> shown("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    >>> shown(10**5000), shown([[[[1]]]]), len(shown([list(range(99))] * 99))
    ('<16610-bit int>', '[[[[...]]]]', 80)
    """
    try:
        text = _SHORT.repr(value)
    except Exception:  # a user object whose __repr__ fails
        return f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def not_utf8(what: str, error: UnicodeDecodeError, offset: int = 0) -> str:
    """The one-line problem and fix for text that is not UTF-8, e.g.
    "x.txt is not UTF-8 text (byte 0xff at position 3); convert it to UTF-8 ...".

    ``offset``: where ``error.object`` starts in the file (files are checked in chunks).
    """
    data = error.object
    utf16 = offset == 0 and data[:2] in (b"\xff\xfe", b"\xfe\xff")  # a UTF-16 byte order mark
    source = "utf-16" if utf16 else "latin1"
    return (f"{what} is not UTF-8 text (byte 0x{data[error.start]:02x} at position "
            f"{offset + error.start}); convert it to UTF-8, e.g. iconv -f {source} -t utf-8")


def text_list(texts: Any) -> list[str]:
    """``predict``'s argument (a text or a list of texts) as a list, or one ConfigError naming
    what it got.

    >>> text_list("fine"), text_list(("a", "b"))
    (['fine'], ['a', 'b'])
    """
    if isinstance(texts, str):
        return [texts]
    usage = "predict takes a text or a list of texts"
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise ConfigError(f"{usage}, not {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"{usage}, not a list holding {type(text).__name__} (item {i}: "
                              f"{shown(text)}); convert with str() or drop it")
    return texts
