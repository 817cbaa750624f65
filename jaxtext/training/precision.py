"""Mixed precision: weights and optimizer state stay float32, the forward/backward pass may
run in bfloat16.

``bf16`` casts a copy of the float32 weights to bfloat16 inside the jitted step, so every
matmul and activation is bfloat16 while gradients flow back into the float32 weights (the
cast's gradient is a cast back). Losses, softmax statistics and metrics are computed in
float32 (the loss functions upcast the logits; attention keeps its scores in float32).
``auto`` picks bfloat16 where it is fast (GPU/TPU tensor cores) and float32 on a CPU.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

ACCELERATORS = ("gpu", "cuda", "rocm", "tpu")


def compute_dtype(precision: str, platform: str | None = None) -> jnp.dtype:
    """``precision`` key -> the dtype of the forward/backward pass on ``platform``.

    >>> compute_dtype("auto", "cpu"), compute_dtype("auto", "gpu"), compute_dtype("bf16", "cpu")
    (dtype('float32'), dtype(bfloat16), dtype(bfloat16))
    """
    platform = platform or jax.default_backend()
    if precision == "auto":
        precision = "bf16" if platform in ACCELERATORS else "f32"
    return jnp.dtype(jnp.bfloat16 if precision == "bf16" else jnp.float32)


def cast_floats(tree: Any, dtype: jnp.dtype) -> Any:
    """Every float32 array of ``tree`` as ``dtype`` (integer leaves, e.g. RNG counts, kept)."""
    if dtype == jnp.float32:
        return tree
    return jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
