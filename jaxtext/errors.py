"""Errors a user can act on: one short line naming the problem and the fix.

Front ends (CLI, magics) print ``str(err)`` without a traceback for any ``JaxtextError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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


class TrainingError(JaxtextError, RuntimeError):
    """Training failed (e.g. NaN loss). ``run`` holds the last good weights."""

    def __init__(self, message: str, run=None):
        super().__init__(message)
        self.run = run


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
