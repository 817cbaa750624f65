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


def train(config: Config | dict | None = None, *, callbacks: Any = "auto", **keys):
    """Train a model and return the finished ``Run`` (keys as in the config / cell body).

    A run that diverges raises ``TrainingError``; its ``run`` attribute holds the last good
    weights. A stopped run (Ctrl-C, the Stop button) is returned with status "interrupted";
    stopped before its first step, nothing was trained: ``Cancelled``, with no run.
    With ``out`` (or checkpointing) the run is saved there whatever its status, never over a
    finished run unless ``overwrite``; if that fails it goes to a rescue folder, with a warning.
    """
    from jaxtext.training.session import Session

    # The views first, so a notebook shows the run at once (the libraries take seconds to load).
    session = Session(resolve_callbacks(callbacks))
    with session.stop_on_sigint():
        cfg, start, out = _settings(session, config, keys)
        from jaxtext.run import Run  # loaded by now (_settings imports them on a worker)
        from jaxtext.starts import check_start, save_result
        from jaxtext.training.trainer import Trainer

        data = _prepare(cfg, session, start.trained.tokenizer if start else None)
        if start is not None:
            try:
                check_start(start, data)
            except BaseException as err:
                _end_early(session, err, "checking the data")
                raise
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


def _settings(session, config, keys):
    """The validated config, what it starts from and its out folder (checked writable),
    after loading JAX, Flax and datasets on a worker thread (seconds; the clock moves)."""
    from jaxtext.data.sources import check_name
    from jaxtext.starts import out_folder, resolve_start

    session.phase("data", "loading JAX, Flax and datasets")
    try:
        session.wait_for(_load_libraries)
        cfg, start = resolve_start(config, keys)
        if isinstance(cfg.data, str):
            check_name(cfg.data)  # a misspelt dataset is one line, before any data is read
        return cfg, start, out_folder(cfg)
    except BaseException as err:
        _end_early(session, err, "loading the libraries")
        raise


def _load_libraries() -> None:
    import jaxtext.data.prepare  # noqa: F401
    import jaxtext.models  # noqa: F401
    import jaxtext.run  # noqa: F401
    import jaxtext.starts  # noqa: F401
    import jaxtext.training.trainer  # noqa: F401
    from jaxtext.training import compile_cache

    compile_cache.enable()


def _prepare(cfg: Config, session, tokenizer):
    """The data, prepared on a worker thread while the views show what it is doing."""
    from jaxtext.data.prepare import prepare_data

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
    except BaseException as err:
        _end_early(session, err, "preparing the data")
        raise
    session.phase("data", f"data ready in {session.elapsed() - started:.1f} s")
    return data


def _end_early(session, err: BaseException, doing: str) -> None:
    """A failure or a stop before the first step: end the views (none is left looking alive);
    a stop becomes ``Cancelled``, anything else goes on to the caller as it is."""
    from jaxtext import events as ev
    from jaxtext.errors import Cancelled
    from jaxtext.training.session import Stopped

    stopped = isinstance(err, (Stopped, KeyboardInterrupt))
    message = f"stopped while {doing}; nothing was trained" if stopped else str(err)
    session.emit(ev.TrainEnd(step=0, elapsed_s=session.elapsed(),
                             status="cancelled" if stopped else "failed", message=message,
                             test=None))
    if isinstance(err, Stopped):
        raise Cancelled(message) from None


def load(path: str | Path):
    """Load a run saved with ``Run.save`` (bit-exact params, optimizer state, tokenizer)."""
    import os

    from jaxtext.checkpoint import read_run
    from jaxtext.errors import ConfigError, shown
    from jaxtext.run import Run

    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"load takes a run folder's path, not {shown(path)}")
    return Run(read_run(Path(path)), saved_to=Path(path))


def sweep(config: Config | dict | None = None, *, callbacks: Any = "auto", **values):
    """Train every configuration of a grid and return the ranked ``SweepResult``.

    ``values``: swept keys, each a list (``lr=[1e-3, 3e-3], seed=[0, 1]``); the grid is their
    product. Configurations that differ only in lr, weight_decay, grad_clip or seed train
    together in one vmapped step (see ``jaxtext.sweeps``). A stop (Ctrl-C, the Stop button)
    returns the runs trained so far, "interrupted".
    """
    import jaxtext.sweep_progress  # noqa: F401 - registers the "sweep_progress" view
    from jaxtext.sweeps import SweepResult, plan_sweep
    from jaxtext.training.session import Session

    plan = plan_sweep(config, values)  # every mistake is one line before anything runs
    if isinstance(callbacks, str) and callbacks == "auto":
        callbacks = ["sweep_dashboard"] if in_notebook_kernel() and \
            "sweep_dashboard" in callback_registry else ["sweep_progress"]
    session = Session(resolve_callbacks(callbacks))
    with session.stop_on_sigint():
        session.phase("data", "loading JAX, Flax and datasets")
        session.wait_for(_load_libraries)
        from jaxtext.run import Run
        from jaxtext.training.sweep_trainer import train_sweep

        trained = train_sweep(plan, session)
    return SweepResult(plan, {i: Run(state) for i, state in trained.items()})
