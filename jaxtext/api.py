"""``jaxtext.train``, ``jaxtext.lr_find`` and ``jaxtext.load``: settings -> Config -> data ->
Trainer -> ``Run`` (or the LR finder's sweep -> ``LRFinderResult``).

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


def resolve_callbacks(callbacks: Any, notebook_view: str = "dashboard") -> list:
    """'auto' -> ``notebook_view`` in a kernel (the training dashboard, or the LR finder's
    chart), terminal progress elsewhere; names via the registry.

    Each item may be a registered name, a ``Callback`` class or instance, or any function of
    one event (see ``jaxtext.protocols.Callback``).
    """
    if isinstance(callbacks, str) and callbacks == "auto":
        callbacks = [notebook_view] if in_notebook_kernel() and notebook_view in callback_registry \
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
    from jaxtext.training.distributed import initialize_if_launched, is_main_process
    from jaxtext.training.session import Session

    # One of several processes of a launch: join the others before JAX does anything; only
    # process 0 shows the run and writes it (the others train the same model silently).
    initialize_if_launched()
    config, keys = _with_suggested_lr(config, keys, callbacks)
    views = resolve_callbacks(callbacks) if is_main_process() else []
    # The views first, so a notebook shows the run at once (the libraries take seconds to load).
    session = Session(views)
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


def _with_suggested_lr(config, keys: dict, callbacks: Any):
    """``lr: suggested``: run the LR finder on this run first (its views quiet when the
    training's are) and train with the rate it suggests, which the run's config records."""
    from jaxtext.lr_finder import wants_suggested

    if not wants_suggested(keys.get("lr", config.get("lr") if isinstance(config, dict)
                                    else None)):
        return config, keys
    from jaxtext.errors import Cancelled

    quiet = callbacks is None or (isinstance(callbacks, (list, tuple)) and not callbacks)
    finder = lr_find(config, callbacks=[] if quiet else "auto",
                     **{k: v for k, v in keys.items() if k != "lr"})
    if finder.status == "interrupted":
        raise Cancelled("stopped while finding the learning rate; nothing was trained")
    if finder.suggested is None:
        raise TrainingError(f"lr: suggested found no rate ({finder.message}); give lr a number")
    return config, {**keys, "lr": finder.suggested}


def lr_find(config: Config | dict | None = None, *, callbacks: Any = "auto", **keys):
    """Sweep the learning rate over the run ``train(config, **keys)`` would make; return an
    ``LRFinderResult`` (``jaxtext.lr_finder``): ``lrs``, ``losses``, ``suggested``.

    Keys as for ``train`` (``lr``, ``out`` and checkpointing are ignored: nothing is saved),
    plus ``start_lr`` (1e-7), ``end_lr`` (10) and ``steps`` (100). ``callbacks``: 'auto' draws
    the curve live in a notebook (the ``lr_finder`` view; 'dashboard' means it here too), a
    progress bar in a terminal. A stop
    (the Stop button, Ctrl-C) returns the curve so far; before the first step, ``Cancelled``.
    """
    import numpy as np

    from jaxtext import events as ev
    from jaxtext.errors import ConfigError
    from jaxtext.lr_finder import END_LR, START_LR, STEPS, check_sweep, wants_suggested
    from jaxtext.training.session import Session

    if isinstance(config, Config):
        settings = dict(keys)
    elif config is None or isinstance(config, dict):
        settings, config = {**(config or {}), **keys}, None
    else:
        raise ConfigError(f"config must be a dict or jaxtext.Config, not "
                          f"{type(config).__name__}")
    start_lr, end_lr, steps = check_sweep(settings.pop("start_lr", START_LR),
                                          settings.pop("end_lr", END_LR),
                                          settings.pop("steps", STEPS))
    if settings.get("resume") or (config is not None and config.resume):
        raise ConfigError("lr_find starts from a fresh model, not a checkpoint: remove resume "
                          "(init: RUN_FOLDER sweeps from a run's weights)")
    if wants_suggested(settings.get("lr")):
        settings.pop("lr")  # the rate being looked for
    session = Session(finder_views(callbacks))
    ending = _lr_find_end
    with session.stop_on_sigint():
        session.phase("data", "loading JAX, Flax and datasets")
        try:
            session.wait_for(_load_libraries)
            from jaxtext.config import describe_data
            from jaxtext.data.sources import check_name
            from jaxtext.lr_finder import RULE, LRFinderResult, sweep_rates
            from jaxtext.starts import check_start, resolve_start
            from jaxtext.training.lr_sweep import sweep

            cfg, start = resolve_start(config, settings)
            if isinstance(cfg.data, str):
                check_name(cfg.data)
        except BaseException as err:
            _end_early(session, err, "loading the libraries", ending)
            raise
        data = _prepare(cfg, session, start.trained.tokenizer if start else None, ending)
        if start is not None:
            try:
                check_start(start, data)
            except BaseException as err:
                _end_early(session, err, "checking the data", ending)
                raise
        session.emit(ev.LRFindBegin(model=cfg.model, data=describe_data(cfg.data),
                                    config=cfg.to_dict(), start_lr=start_lr, end_lr=end_lr,
                                    steps=steps, rule=RULE))
        try:
            curve = sweep(cfg, data, session, sweep_rates(start_lr, end_lr, steps),
                          start.trained.model if start else None)
        except BaseException:
            session.emit(ending(session, "failed", "error during the sweep"))
            raise
    session.emit(ev.LRFindEnd(status=curve.status, message=curve.message,
                              steps=len(curve.lrs), suggested=curve.suggested,
                              elapsed_s=session.elapsed()))
    return LRFinderResult(
        lrs=np.asarray(curve.lrs), losses=np.asarray(curve.losses),
        smoothed=np.asarray(curve.smoothed), suggested=curve.suggested, status=curve.status,
        message=curve.message, config=cfg, start_lr=start_lr, end_lr=end_lr, steps=steps,
        timing={"compile_s": curve.compile_s, "steps_s": curve.steps_s,
                "steps_run": curve.dispatched, "total_s": session.elapsed()})


def finder_views(callbacks: Any) -> list:
    """``resolve_callbacks`` for a sweep: 'auto' and 'dashboard' (which draws training, not a
    sweep) mean the ``lr_finder`` chart in a notebook."""
    if isinstance(callbacks, (list, tuple)):
        callbacks = ["lr_finder" if cb == "dashboard" else cb for cb in callbacks]
    return resolve_callbacks(callbacks, notebook_view="lr_finder")


def _lr_find_end(session, status: str, message: str):
    from jaxtext import events as ev

    return ev.LRFindEnd(status=status, message=message, steps=0, suggested=None,
                        elapsed_s=session.elapsed())


def _train_end(session, status: str, message: str):
    from jaxtext import events as ev

    return ev.TrainEnd(step=0, elapsed_s=session.elapsed(), status=status, message=message,
                       test=None)


def _settings(session, config, keys):
    """The validated config, what it starts from and its out folder (checked writable),
    after loading JAX, Flax and datasets on a worker thread (seconds; the clock moves)."""
    from jaxtext.data.sources import check_name
    from jaxtext.starts import out_folder, resolve_start
    from jaxtext.training.distributed import is_main_process

    session.phase("data", "loading JAX, Flax and datasets")
    try:
        session.wait_for(_load_libraries)
        cfg, start = resolve_start(config, keys)
        if isinstance(cfg.data, str):
            check_name(cfg.data)  # a misspelt dataset is one line, before any data is read
        return cfg, start, out_folder(cfg) if is_main_process() else None
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


def _prepare(cfg: Config, session, tokenizer, ending=_train_end):
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
        _end_early(session, err, "preparing the data", ending)
        raise
    session.phase("data", f"data ready in {session.elapsed() - started:.1f} s")
    return data


def _end_early(session, err: BaseException, doing: str, ending=_train_end) -> None:
    """A failure or a stop before the first step: end the views (none is left looking alive)
    with ``ending``'s event; a stop becomes ``Cancelled``, anything else goes on as it is."""
    from jaxtext.errors import Cancelled
    from jaxtext.training.session import Stopped

    stopped = isinstance(err, (Stopped, KeyboardInterrupt))
    message = f"stopped while {doing}; nothing was trained" if stopped else str(err)
    session.emit(ending(session, "cancelled" if stopped else "failed", message))
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
