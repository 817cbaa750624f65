"""Save and load a run as plain files: JSON, tokenizer.json and msgpack arrays (no pickle).

    run_dir/
      config.json      the config (as accepted by Config.from_dict)
      meta.json        format version, name, label names, sizes, schedule length
      history.json     the run's events (folded again into a History on load)
      tokenizer.json   the Hugging Face tokenizer
      params.msgpack   model parameters        (flax.serialization, exact bytes)
      state.msgpack    other model state + optimizer state

Arrays round-trip bit-exactly; typed PRNG keys are stored as their raw key data.
``write_run`` / ``read_run`` move a ``TrainedState`` to and from such a folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx, serialization

from jaxtext import events as ev
from jaxtext.config import Config
from jaxtext.data import TextTokenizer
from jaxtext.errors import JaxtextError
from jaxtext.history import History
from jaxtext.protocols import Dims
from jaxtext.training.optim import OptimizerSpec, make_optimizer
from jaxtext.training.state import TrainedState, init_model_state

FORMAT_VERSION = 2


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


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_run(path: Path, trained: TrainedState) -> Path:
    """Write a ``TrainedState`` (see ``jaxtext.training.state``) to the folder ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    history = trained.history
    write_json(path / "config.json", trained.config.to_dict())
    write_json(path / "meta.json", {
        "format_version": FORMAT_VERSION,
        "name": history.begin.run_name if history.begin else trained.config.name,
        "label_names": list(trained.label_names), "dims": vars(trained.dims),
        "total_steps": trained.total_steps})
    write_json(path / "history.json", [ev.event_to_dict(e) for e in history.events])
    trained.tokenizer.save(path / "tokenizer.json")
    (path / "params.msgpack").write_bytes(state_bytes(trained.model.params))
    (path / "state.msgpack").write_bytes(
        tree_bytes({"rest": trained.model.rest, "opt_state": trained.opt_state}))
    return path


def read_run(path: Path) -> TrainedState:
    """Read a folder written by ``write_run`` back into a ``TrainedState``."""
    if not (path / "config.json").exists():
        raise JaxtextError(f"no saved run at '{path}' (config.json missing); "
                           "save one with run.save(path)")
    meta = read_json(path / "meta.json")
    config = Config.from_dict(read_json(path / "config.json"))
    dims = Dims(**meta["dims"])
    model = init_model_state(config, dims)
    params = restore_state(model.params, (path / "params.msgpack").read_bytes())
    tx = make_optimizer(OptimizerSpec.from_config(config, meta["total_steps"]))
    template = {"rest": model.rest, "opt_state": tx.init(params)}
    state = restore_tree(template, (path / "state.msgpack").read_bytes())
    history = History.of(ev.event_from_dict(e) for e in read_json(path / "history.json"))
    return TrainedState(config=config, tokenizer=TextTokenizer.load(path / "tokenizer.json"),
                        label_names=tuple(meta["label_names"]), dims=dims,
                        model=model._replace(params=params, rest=state["rest"]),
                        opt_state=state["opt_state"], total_steps=meta["total_steps"],
                        history=history)
