"""Save and load a run as plain files: JSON, tokenizer.json and msgpack arrays (no pickle).

    run_dir/
      meta.json        format, version, name, label names, sizes, schedule length, steps done,
                       task parameters (regression's target mean/std, a tuned threshold)
      config.json      the config (as accepted by Config.from_dict)
      history.json     the run's events (folded again into a History on load)
      tokenizer.json   the Hugging Face tokenizer
      params.msgpack   model parameters        (flax.serialization, exact bytes)
      state.msgpack    other model state + optimizer state
      resume.json      (checkpoints only) where the training loop was, to continue from there
      checkpoints/     (when checkpointing) step-00000500/, ..., best/: run folders themselves

Arrays round-trip bit-exactly; typed PRNG keys are stored as their raw key data. A folder is
written whole or not at all (``jaxtext.storage.replace_folder``), and reading it checks every
file: a damaged or missing one is one ``RunFolderError`` line naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx, serialization

from jaxtext import events as ev
from jaxtext.config import Config
from jaxtext.data import TextTokenizer
from jaxtext.errors import ConfigError, RunFolderError
from jaxtext.history import History
from jaxtext.protocols import Dims
from jaxtext.storage import recover_folder, replace_folder, write_file
from jaxtext.training.optim import OptimizerSpec, make_optimizer
from jaxtext.training.state import TrainedState, init_model_state

FORMAT = "jaxtext.run"
FORMAT_VERSION = 2
RUN_FILES = ("meta.json", "config.json", "history.json", "tokenizer.json", "params.msgpack",
             "state.msgpack")
CHECKPOINTS = "checkpoints"  # subfolder a new save of the run carries over


def _to_numpy(tree: Any) -> Any:
    def leaf(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x))
        return np.asarray(x)

    return jax.tree.map(leaf, tree)


def _restore_like(template: Any, stored: Any) -> Any:
    def leaf(t, s):
        if isinstance(t, jax.Array) and jax.dtypes.issubdtype(t.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(np.asarray(s), impl=jax.random.key_impl(t))
        s = np.asarray(s)
        if s.shape != np.shape(t):
            raise ValueError(f"saved array has shape {s.shape}, the model expects {np.shape(t)}")
        return s.astype(np.asarray(t).dtype, copy=False)

    return jax.tree.map(leaf, template, stored)


def state_bytes(state: nnx.State) -> bytes:
    return serialization.msgpack_serialize(_to_numpy(nnx.to_pure_dict(state)))


def restore_state(template: nnx.State, data: bytes) -> nnx.State:
    stored = serialization.msgpack_restore(data)
    pure = _restore_like(nnx.to_pure_dict(template), stored)
    nnx.replace_by_pure_dict(template, pure)
    return template


def tree_bytes(tree: Any) -> bytes:
    """Any pytree (e.g. optimizer state) as its leaves in order; restored against a template."""
    leaves = jax.tree.leaves(tree)
    return serialization.msgpack_serialize({str(i): x for i, x in enumerate(_to_numpy(leaves))})


def restore_tree(template: Any, data: bytes) -> Any:
    stored = serialization.msgpack_restore(data)
    leaves, treedef = jax.tree.flatten(template)
    if len(stored) != len(leaves):
        raise ValueError(f"saved state has {len(stored)} arrays, expected {len(leaves)}")
    restored = _restore_like(leaves, [stored[str(i)] for i in range(len(leaves))])
    return jax.tree.unflatten(treedef, restored)


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=1, default=_json_default) + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def run_files(trained: TrainedState, extra: dict[str, Any] | None = None) -> dict[str, bytes]:
    """Every file of a run folder, serialized in memory (so the folder is written quickly)."""
    history = trained.history
    files = {
        "meta.json": _json_bytes({
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "name": history.begin.run_name if history.begin else trained.config.name,
            "label_names": list(trained.label_names), "dims": vars(trained.dims),
            "total_steps": trained.total_steps, "step": trained.step,
            "task_params": dict(trained.task_params)}),
        "config.json": _json_bytes(trained.config.to_dict()),
        "history.json": _json_bytes([ev.event_to_dict(e) for e in history.events]),
        "tokenizer.json": trained.tokenizer.to_json().encode("utf-8"),
        "params.msgpack": state_bytes(trained.model.params),
        "state.msgpack": tree_bytes({"rest": trained.model.rest, "opt_state": trained.opt_state}),
    }
    for name, value in (extra or {}).items():
        files[name] = value if isinstance(value, bytes) else _json_bytes(value)
    return files


def is_run_folder(path: Path) -> bool:
    """A folder jaxtext wrote: a run, or one that so far holds only checkpoints."""
    if (path / "meta.json").is_file():
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError):
            return False
        return isinstance(meta, dict) and "format_version" in meta
    return path.is_dir() and {p.name for p in path.iterdir()} <= {CHECKPOINTS}


def check_target(path: Path) -> None:
    """Refuse (one line) to save over something that is not a jaxtext run."""
    if path.is_symlink():
        raise RunFolderError(f"'{path}' is a symbolic link: jaxtext never saves through links; "
                             "pass the real folder")
    if not path.exists():
        return
    if not path.is_dir():
        raise RunFolderError(f"'{path}' is a file, not a run folder; pick another path")
    if any(path.iterdir()) and not is_run_folder(path):
        raise RunFolderError(f"'{path}' exists and is not a jaxtext run; pick a new folder "
                             "or empty it")


def write_run(path: Path, trained: TrainedState, extra: dict[str, Any] | None = None) -> Path:
    """Write a ``TrainedState`` to the folder ``path``, atomically.

    An existing run there is replaced as a whole (its ``checkpoints/`` carried over);
    ``extra`` adds files (e.g. ``resume.json`` in a checkpoint).
    """
    path = Path(path)
    check_target(path)
    files = run_files(trained, extra)

    def write(tmp: Path) -> None:
        for name, data in files.items():
            write_file(tmp, name, data)
        if (path / CHECKPOINTS).is_dir():
            _link_tree(path / CHECKPOINTS, tmp / CHECKPOINTS)

    return replace_folder(path, write)


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link a folder's files into ``dst`` (a copy where links are impossible)."""
    for folder, _, names in os.walk(src):
        out = dst / Path(folder).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            try:
                os.link(Path(folder) / name, out / name)
            except OSError:
                shutil.copy2(Path(folder) / name, out / name)


def _read(path: Path, name: str) -> bytes:
    try:
        return (path / name).read_bytes()
    except FileNotFoundError:
        raise RunFolderError(f"'{path}' is damaged: {name} is missing") from None
    except OSError as err:
        raise RunFolderError(f"cannot read {path / name}: {err.strerror}") from None


def _read_json(path: Path, name: str) -> Any:
    try:
        return json.loads(_read(path, name))
    except (ValueError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path / name} is damaged (not valid JSON: {err})") from None


def _damaged(path: Path, name: str, err: Exception) -> RunFolderError:
    detail = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
    return RunFolderError(f"{path / name} is damaged ({detail})")


def latest_checkpoint(path: Path) -> Path | None:
    """The newest ``checkpoints/step-*`` folder of a run folder (by step), if any."""
    folder = Path(path) / CHECKPOINTS
    steps = sorted(folder.glob("step-*")) if folder.is_dir() else []
    return steps[-1] if steps else None


def read_run(path: Path) -> TrainedState:
    """Read a folder written by ``write_run`` back into a ``TrainedState`` (checked file by file)."""
    path = Path(path)
    recover_folder(path)
    if not path.is_dir():
        raise RunFolderError(f"no saved run at '{path}'; save one with run.save(path)"
                             if not path.exists() else f"'{path}' is a file, not a run folder")
    if not (path / "meta.json").exists():
        latest = latest_checkpoint(path)
        if latest is not None:
            raise RunFolderError(f"'{path}' holds no finished run, only checkpoints: load "
                                 f"'{latest}' or continue training with resume: {path}")
        raise RunFolderError(f"no saved run at '{path}' (meta.json missing); "
                             "save one with run.save(path)")
    meta = _read_json(path, "meta.json")
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise RunFolderError(f"{path / 'meta.json'} is not a jaxtext run's (no format_version)")
    if meta["format_version"] != FORMAT_VERSION:
        raise RunFolderError(f"'{path}' was saved in run format {meta['format_version']}; this "
                             f"jaxtext reads format {FORMAT_VERSION}: load it with the jaxtext "
                             "that saved it")
    for name in RUN_FILES:
        if not (path / name).is_file():
            raise RunFolderError(f"'{path}' is damaged: {name} is missing")
    try:
        config = Config.from_dict(_read_json(path, "config.json"))
    except ConfigError as err:
        raise RunFolderError(f"{path / 'config.json'} does not describe a run here: {err}") \
            from None
    try:
        tokenizer = TextTokenizer.from_json(_read(path, "tokenizer.json").decode("utf-8"))
    except RunFolderError:
        raise
    except Exception as err:  # noqa: BLE001 - the tokenizers library raises many kinds
        raise _damaged(path, "tokenizer.json", err) from None
    try:
        dims = Dims(**meta["dims"])
        total_steps, labels = int(meta["total_steps"]), tuple(meta["label_names"])
        task_params = {str(k): float(v) for k, v in meta.get("task_params", {}).items()}
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(path, "meta.json", err) from None
    model = init_model_state(config, dims)
    try:
        params = restore_state(model.params, _read(path, "params.msgpack"))
    except RunFolderError:
        raise
    except Exception as err:  # noqa: BLE001 - msgpack and shape errors
        raise _damaged(path, "params.msgpack", err) from None
    tx = make_optimizer(OptimizerSpec.from_config(config, total_steps))
    try:
        state = restore_tree({"rest": model.rest, "opt_state": tx.init(params)},
                             _read(path, "state.msgpack"))
    except RunFolderError:
        raise
    except Exception as err:  # noqa: BLE001
        raise _damaged(path, "state.msgpack", err) from None
    try:
        history = History.of(ev.event_from_dict(e) for e in _read_json(path, "history.json"))
    except (ValueError, TypeError) as err:
        raise _damaged(path, "history.json", err) from None
    step = int(meta.get("step", history.end.step if history.end else 0))
    return TrainedState(config=config, tokenizer=tokenizer, label_names=labels, dims=dims,
                        model=model._replace(params=params, rest=state["rest"]),
                        opt_state=state["opt_state"], total_steps=total_steps,
                        history=history, step=step, task_params=task_params)


def read_resume_point(path: Path) -> dict[str, Any]:
    """The loop position a checkpoint saved (``resume.json``)."""
    return _read_json(path, "resume.json")
