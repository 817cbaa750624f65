"""Save and load a run as plain files: JSON, tokenizer.json and msgpack arrays (no pickle).

    run_dir/
      config.json      the config (as accepted by Config.from_dict)
      meta.json        label names, sizes, status, metrics, timing
      history.json     the logged training/validation rows
      tokenizer.json   the Hugging Face tokenizer
      params.msgpack   model parameters        (flax.serialization, exact bytes)
      state.msgpack    other model state + optimizer state

Arrays round-trip bit-exactly; typed PRNG keys are stored as their raw key data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx, serialization

FORMAT_VERSION = 1


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
