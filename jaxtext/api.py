"""``jaxtext.train`` and ``jaxtext.load``: settings -> Config -> data -> Trainer -> ``Run``.

This is the one place a ``Run`` is made from trained state (``Run(trained)``); loading a saved
run reads the same ``TrainedState`` from disk and makes the run the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jaxtext.callbacks import Callback
from jaxtext.config import Config
from jaxtext.errors import ConfigError, TrainingError
from jaxtext.protocols import check_callback
from jaxtext.registry import callbacks as callback_registry
from jaxtext.run import Run


def as_config(config: Config | dict | None, keys: dict[str, Any]) -> Config:
    if isinstance(config, Config):
        return config.replace(**keys) if keys else config
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config must be a dict or jaxtext.Config, not {type(config).__name__}")
    return Config.from_dict({**(config or {}), **keys})


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel; checked without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def resolve_callbacks(callbacks: Any) -> list:
    """'auto' -> dashboard in a kernel, terminal progress elsewhere; names via the registry.

    Each item may be a registered name, a ``Callback`` class or instance, or any function of
    one event (see ``jaxtext.protocols.Callback``).
    """
    if isinstance(callbacks, str) and callbacks == "auto":
        callbacks = ["dashboard"] if in_notebook_kernel() and "dashboard" in callback_registry \
            else ["progress"]
    if callbacks is None:
        callbacks = []
    if isinstance(callbacks, (str, Callback)) or callable(callbacks):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        check_callback(callbacks)
    resolved = []
    for cb in callbacks:
        if isinstance(cb, str):
            cb = callback_registry.get(cb)()
        elif isinstance(cb, type):
            cb = cb()
        check_callback(cb)
        resolved.append(cb)
    return resolved


def train(config: Config | dict | None = None, *, callbacks: Any = "auto", **keys) -> Run:
    """Train a model and return the finished ``Run`` (keys as in the config / cell body).

    A run that diverges raises ``TrainingError``; its ``run`` attribute holds the last good
    weights. A stopped run (Ctrl-C, the Stop button) is returned with status "interrupted".
    """
    from jaxtext.data.prepare import prepare_data
    from jaxtext.training import compile_cache
    from jaxtext.training.trainer import Trainer

    compile_cache.enable()
    cfg = as_config(config, keys)
    views = resolve_callbacks(callbacks)
    trained = Trainer(cfg, prepare_data(cfg), views).fit()
    run = Run(trained)
    if run.status == "failed":
        raise TrainingError(trained.history.end.message, run=run)
    return run


def load(path: str | Path) -> Run:
    """Load a run saved with ``Run.save`` (bit-exact params, optimizer state, tokenizer)."""
    from jaxtext.checkpoint import read_run

    return Run(read_run(Path(path)))
