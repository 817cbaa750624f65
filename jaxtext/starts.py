"""Where a run starts and where it ends up: ``resume``, ``init`` and the ``out`` folder.

* ``resume: runs/x`` continues the run saved in ``runs/x`` from its newest checkpoint: the
  same config, schedule, data order and RNG streams, so the finished run is bit-identical to
  one that was never stopped. Only keys that do not change the arithmetic may differ
  (``RESUME_MAY_CHANGE``).
* ``init: runs/x`` (or a ``Run``) starts a *new* run from that run's weights, tokenizer and
  labels: a fresh optimizer and a new learning-rate schedule (warmup and decay) over the new
  ``epochs``; every other key defaults to that run's and may be changed, except the model's.
* ``out`` is checked before any data is loaded; after training the run is saved there
  whatever its status, except that an unfinished run never replaces a finished one without
  ``overwrite`` (it goes beside it, ``runs/x-interrupted``), and a save that fails goes to a
  rescue folder in the temp directory. Each case says so in one warning line.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaxtext.checkpoint import (
    check_target,
    latest_checkpoint,
    read_resume_point,
    read_run,
    restore_tree,
    write_run,
)
from jaxtext.config import Config
from jaxtext.errors import ConfigError, DataError, JaxtextError, RunFolderError
from jaxtext.training.checkpointing import Position
from jaxtext.training.state import TrainedState

# resume: keys that change where things go or what is shown, never what is computed
RESUME_MAY_CHANGE = frozenset({"resume", "out", "checkpoint_every", "keep_checkpoints",
                               "log_every", "overwrite", "name"})
_NEW_RUN_KEYS = ("out", "resume", "init", "name", "overwrite")  # never inherited by init
FINISHED = ("completed", "early_stopped")


@dataclass(frozen=True)
class Start:
    kind: str  # "resume" or "init"
    trained: TrainedState
    position: Position | None = None  # resume: where the loop was
    best_state: Any = None  # resume with early stopping: (params, rest) of the best epoch


def as_config(config: Config | dict | None, keys: dict[str, Any]) -> Config:
    """``jaxtext.train``'s arguments as one validated Config (keys win over ``config``)."""
    if isinstance(config, Config):
        return config.replace(**keys) if keys else config
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config must be a dict or jaxtext.Config, not {type(config).__name__}")
    return Config.from_dict({**(config or {}), **keys})


def resolve_start(config: Config | dict | None,
                  keys: dict[str, Any]) -> tuple[Config, Start | None]:
    """The config to train with, and what it starts from (None: a fresh model)."""
    if isinstance(config, Config):  # its keys that differ from the defaults were given
        given = {**config.to_dict(), "data": config.data, "init": config.init}
        defaults = Config.from_dict({"model": config.model, "task": config.task}).to_dict()
        explicit = {k: v for k, v in given.items() if defaults.get(k, object()) != v}
        explicit.update(keys)
        settings = {**given, **keys}
    else:
        if config is not None and not isinstance(config, dict):
            raise ConfigError(f"config must be a dict or jaxtext.Config, not "
                              f"{type(config).__name__}")
        explicit = settings = {**(config or {}), **keys}
    resume, init = settings.get("resume"), settings.get("init")
    if resume and init is not None:
        raise ConfigError("resume continues a run, init starts a new one from its weights: "
                          "give one of them")
    if resume:
        return _resume(Path(str(resume)), {k: v for k, v in explicit.items()
                                           if k not in ("resume", "init")})
    if init is not None:
        return _init(init, {k: v for k, v in explicit.items() if k != "init"})
    return as_config(config, keys), None


def run_status(path: Path) -> str | None:
    """How the run saved in ``path`` ended, read from its history (None: no run there)."""
    try:
        events = json.loads((Path(path) / "history.json").read_text())
        ends = [e for e in events if isinstance(e, dict) and e.get("event") == "TrainEnd"]
    except (OSError, ValueError):
        return None
    return ends[-1].get("status") if ends else None


def _resume(folder: Path, changes: dict[str, Any]) -> tuple[Config, Start]:
    if (folder / "resume.json").is_file():
        checkpoint = folder  # a checkpoint folder itself
    else:
        if not folder.exists():
            raise RunFolderError(f"no run at '{folder}' to resume; check the path")
        status = run_status(folder)
        if status in FINISHED:
            raise ConfigError(f"'{folder}' finished ({status}); to train it more, start a new "
                              f"run from its weights with init: {folder}")
        checkpoint = latest_checkpoint(folder)
        if checkpoint is None:
            raise RunFolderError(f"'{folder}' has no checkpoint to resume from (train with "
                                 f"checkpoint_every); start from its weights with init: {folder}")
    trained = read_run(checkpoint)
    position = Position.from_json(read_resume_point(checkpoint))
    saved = trained.config.to_dict()
    in_memory = str(saved.get("data", "")).startswith("<")
    differ = sorted(k for k, v in changes.items() if k not in RESUME_MAY_CHANGE
                    and not (k == "data" and in_memory) and saved.get(k) != v)
    if differ:
        raise ConfigError(f"resume continues the run as it was: drop {', '.join(differ)} "
                          f"(or start a new run from its weights with init: {folder})")
    if in_memory and "data" not in changes:
        raise DataError("this run was trained on in-memory data, which is not saved: pass the "
                        "same data again with resume")
    out = changes.get("out") or saved.get("out") or str(folder)
    config = Config.from_dict({**saved, "data": changes.get("data", saved["data"]),
                               **changes, "out": out, "resume": "", "init": None})
    best_state = None
    if (checkpoint / "best_state.msgpack").is_file():
        template = (trained.model.params, trained.model.rest)
        best_state = restore_tree(template, (checkpoint / "best_state.msgpack").read_bytes())
    return config, Start("resume", trained, position, best_state)


def _init(init: Any, changes: dict[str, Any]) -> tuple[Config, Start]:
    from jaxtext.run import Run

    if isinstance(init, Run):
        trained, source = init.trained, init.name
    elif isinstance(init, (str, os.PathLike)):
        trained, source = read_run(Path(init)), str(init)
    else:
        raise ConfigError(f"init must be a Run or a run folder, not {type(init).__name__}")
    base = {k: v for k, v in trained.config.to_dict().items() if k not in _NEW_RUN_KEYS}
    if str(base.get("data", "")).startswith("<") and "data" not in changes:
        raise DataError("the init run was trained on in-memory data, which is not saved: "
                        "pass data= too")
    config = Config.from_dict({**base, **changes, "init": source})
    if config.model != trained.config.model or config.model_args != trained.config.model_args:
        raise ConfigError(f"init: the weights are for model '{trained.config.model}' as it was "
                          "built; keep its model keys (drop model, dim, hidden, ...)")
    return config, Start("init", trained)


def check_start(start: Start, data) -> None:
    """The data must fit the weights: same labels, same sizes."""
    trained = start.trained
    if list(data.label_names) != list(trained.label_names):
        raise DataError(f"{start.kind}: this data's labels {list(data.label_names)} are not the "
                        f"run's {list(trained.label_names)}")
    if data.dims != trained.dims:
        raise ConfigError(f"{start.kind}: the data gives the model other sizes ({data.dims}) "
                          f"than the run was built with ({trained.dims}); keep max_len and task")


def out_folder(config: Config) -> Path | None:
    """The run folder to save in, checked now (before minutes of training), or None."""
    steps, seconds = config.checkpoint_interval
    if config.out:
        path = Path(config.out).expanduser()
    elif steps or seconds:
        name = config.name or config.model
        path = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    else:
        return None
    check_target(path)
    _check_writable(path if path.is_dir() else path.parent)
    return path


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jaxtext-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RunFolderError(f"cannot write to '{folder}' ({err.strerror or err}); pick "
                             "another out folder") from None


def save_result(trained: TrainedState, out: Path, *, overwrite: bool = False) -> Path:
    """Save a finished, stopped or failed run to ``out`` (or beside it, or to a rescue folder)."""
    status = trained.history.end.status if trained.history.end else "interrupted"
    target = out
    if status not in FINISHED and not overwrite and run_status(out) in FINISHED:
        target = out.with_name(f"{out.name}-{status}")
        _note(f"'{out}' holds a finished run, so this {status} one went to '{target}' "
              "(overwrite: true replaces it)")
    try:
        return write_run(target, trained)
    except (OSError, JaxtextError) as err:
        rescue = Path(tempfile.gettempdir()) / (f"jaxtext-rescued-{out.name}-"
                                                f"{time.strftime('%Y%m%d-%H%M%S')}")
        write_run(rescue, trained)
        _note(f"could not save to '{target}' ({err}); the run is saved in '{rescue}' instead")
        return rescue


def _note(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=4)
