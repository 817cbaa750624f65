"""Pieces shared by the built-in models: masked pooling, last-token lookup, an MLP stack.

All functions are pure and shape-static. ``mask`` is always ``bool[batch, seq]`` with True on
real tokens; a row may be all padding (an empty slot in a padded-out batch), and every function
here keeps such rows finite instead of dividing by zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

POOLINGS = ("mean", "max", "mean_max")


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``x: float[B, T, D]`` over the real steps -> ``float[B, D]`` (0 for empty rows)."""
    m = mask[..., None].astype(x.dtype)
    count = jnp.maximum(m.sum(axis=1), 1.0)
    return (x * m).sum(axis=1) / count


def masked_max(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Max of ``x: float[B, T, D]`` over the real steps -> ``float[B, D]`` (0 for empty rows)."""
    m = mask[..., None]
    best = jnp.where(m, x, -jnp.inf).max(axis=1)
    return jnp.where(m.any(axis=1), best, 0.0)


def pool(x: jax.Array, mask: jax.Array, kind: str) -> jax.Array:
    """``float[B, T, D]`` -> ``float[B, D]`` ("mean", "max") or ``float[B, 2D]`` ("mean_max")."""
    if kind == "mean":
        return masked_mean(x, mask)
    if kind == "max":
        return masked_max(x, mask)
    if kind == "mean_max":
        return jnp.concatenate([masked_mean(x, mask), masked_max(x, mask)], axis=-1)
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not '{kind}'")


def last_index(mask: jax.Array) -> jax.Array:
    """Index of each row's last real token, ``int32[B]`` (0 for an empty row).

    Rows are right-padded, so this is ``length - 1``; a model's prediction for the token after a
    prompt lives there.
    """
    return jnp.maximum(mask.sum(axis=-1).astype(jnp.int32) - 1, 0)


def take_rows(x: jax.Array, index: jax.Array) -> jax.Array:
    """``x[b, index[b]]`` for every row: ``float[B, T, ...]``, ``int32[B]`` -> ``float[B, ...]``."""
    return jnp.take_along_axis(x, index.reshape((-1,) + (1,) * (x.ndim - 1)), axis=1)[:, 0]


def check_positive(**values: int) -> None:
    """Raise ValueError naming the first size that is not at least 1 (config validation)."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def check_rate(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {rate}")


class FeedForward(nnx.Module):
    """``layers`` x (Linear -> ReLU -> Dropout), then a Linear to ``out_features``.

    With ``layers=0`` it is a single Linear (a linear classifier / log-linear model).
    """

    def __init__(self, in_features: int, hidden: int, layers: int, out_features: int,
                 dropout: float, *, rngs: nnx.Rngs):
        sizes = [in_features] + [hidden] * layers
        pairs = zip(sizes[:-1], sizes[1:], strict=True)
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in pairs])
        self.out = nnx.Linear(sizes[-1], out_features, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.hidden:
            x = self.dropout(jax.nn.relu(layer(x)))
        return self.out(x)
