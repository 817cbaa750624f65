"""``jaxtext.train`` and ``jaxtext.load``: settings -> Config -> data -> Trainer -> ``Run``.

This is the one place a ``Run`` is made from trained state (``Run(trained)``); loading a saved
run reads the same ``TrainedState`` from disk and makes the run the same way. Where the run is
saved (``out``), how a run continues (``resume``) or starts from another's weights (``init``)
is decided in ``starts.py``; this module wires them to the trainer.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jaxtext.callbacks import Callback
from jaxtext.config import Config
from jaxtext.errors import TrainingError
from jaxtext.protocols import check_callback
from jaxtext.registry import callbacks as callback_registry
from jaxtext.run import Run


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
    weights. A stopped run (Ctrl-C, the Stop button) is returned with status "interrupted";
    stopped while its data is prepared, nothing was trained: ``TrainingError`` with no run.
    With ``out`` (or checkpointing) the run is saved there whatever its status, never over a
    finished run unless ``overwrite``; if that fails it goes to a rescue folder, with a warning.
    """
    from jaxtext.data.sources import check_name
    from jaxtext.starts import check_start, out_folder, resolve_start, save_result
    from jaxtext.training import compile_cache
    from jaxtext.training.session import Session
    from jaxtext.training.trainer import Trainer

    compile_cache.enable()
    cfg, start = resolve_start(config, keys)
    if isinstance(cfg.data, str):
        check_name(cfg.data)  # a misspelt dataset is one line before anything is shown
    out = out_folder(cfg)  # checked writable before the data is loaded
    session = Session(resolve_callbacks(callbacks))
    with session.stop_on_sigint():
        data = _prepare(cfg, session, start.trained.tokenizer if start else None)
        if start is not None:
            check_start(start, data)
        trainer = Trainer(cfg, data, session, out=out,
                          start=start.trained if start else None,
                          position=start.position if start else None,
                          best_state=start.best_state if start else None)
        trained = trainer.fit()
    saved = save_result(trained, out, overwrite=cfg.overwrite) if out is not None else None
    run = Run(trained, saved_to=saved)
    if run.status == "failed":
        raise TrainingError(trained.history.end.message, run=run)
    return run


def _prepare(cfg: Config, session, tokenizer):
    """The data, prepared on a worker thread while the views show what it is doing."""
    from jaxtext import events as ev
    from jaxtext.data.prepare import prepare_data
    from jaxtext.errors import Cancelled
    from jaxtext.training.session import Stopped

    said = {"text": "preparing the data"}
    session.phase("data", said["text"])

    def show_progress() -> None:
        if said.get("shown") != said["text"]:
            said["shown"] = said["text"]
            session.phase("data", said["text"])

    def progress(text: str) -> None:  # on the worker thread: only record it
        said["text"] = text

    started = session.elapsed()
    try:
        data = session.wait_for(lambda: prepare_data(cfg, tokenizer=tokenizer,
                                                     progress=progress),
                                on_tick=show_progress)
    except BaseException as err:  # leave no live-looking view behind
        stopped = isinstance(err, (Stopped, KeyboardInterrupt))
        message = ("stopped while preparing the data; nothing was trained" if stopped
                   else f"the data could not be prepared: {err}")
        session.emit(ev.TrainEnd(step=0, elapsed_s=session.elapsed(),
                                 status="cancelled" if stopped else "failed",
                                 message=message, test=None))
        if isinstance(err, Stopped):
            raise Cancelled(message) from None
        raise
    seconds = session.elapsed() - started
    session.phase("data", f"data ready in {seconds:.1f} s")
    return data


def load(path: str | Path) -> Run:
    """Load a run saved with ``Run.save`` (bit-exact params, optimizer state, tokenizer)."""
    import os

    from jaxtext.checkpoint import read_run
    from jaxtext.errors import ConfigError, shown

    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"load takes a run folder's path, not {shown(path)}")
    return Run(read_run(Path(path)), saved_to=Path(path))
