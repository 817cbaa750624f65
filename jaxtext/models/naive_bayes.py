"""Naive Bayes log-count ratios: class evidence per n-gram, counted once from the training split.

NBSVM (Wang & Manning 2012, "Baselines and Bigrams") scales each n-gram's feature by how much
more often it occurs in one class's texts than in the others', and learns a linear model on
top. The ratios are statistics of the data, not weights: a model counts them in its ``adapt``
(``jaxtext.protocols``) before the first step and keeps them in a ``LogCountRatios``
variable, which is saved and exported with the run but is not an ``nnx.Param``, so the
optimizer never touches it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class LogCountRatios(nnx.Variable):
    """``float32[rows, classes]``: fixed evidence for each class, set by ``adapt``."""


def log_count_ratios(counts: jax.Array, alpha: float = 1.0) -> jax.Array:
    """``counts[f, :C]`` (occurrences of row f in texts of class c) and ``counts[f, C]`` (in
    all texts) -> ``r[f, c]``, ``float32[rows, C]``.

    ``r[f, c] = log(p_c(f) / q_c(f))``: the smoothed share of the occurrences in class c's
    texts that are row f, against the same share in every other text (one against the rest;
    with two classes ``r[:, 1] = -r[:, 0]``, the NBSVM ratio; with multi-label rows, the
    texts without label c). ``alpha`` is added to every count, so a row never seen has
    ratio ~0.

    >>> r = log_count_ratios(jnp.array([[3.0, 1.0, 4.0], [1.0, 3.0, 4.0]]), alpha=0.0)
    >>> [round(float(x), 3) for x in r[0]]
    [1.099, -1.099]
    """
    p = counts[:, :-1] + alpha
    q = counts[:, -1:] - counts[:, :-1] + alpha
    return jnp.log(p / p.sum(axis=0)) - jnp.log(q / q.sum(axis=0))


def class_targets(labels: np.ndarray, weights: np.ndarray, num_classes: int) -> np.ndarray:
    """A batch's labels as ``float32[B, classes + 1]``: one-hot class ids or multi-hot rows,
    then a 1 for every text; zero for padding rows (weight 0)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = np.eye(num_classes, dtype=np.float32)[labels]
    every = np.ones((len(labels), 1), np.float32)
    targets = np.concatenate([labels.astype(np.float32), every], axis=1)
    return targets * np.asarray(weights, np.float32)[:, None]


@partial(jax.jit, static_argnums=0, donate_argnums=1)
def _add_counts(rows_of: Callable, counts, tokens, mask, targets):
    ids, valid = rows_of(tokens, mask)  # int32[B, L], bool[B, L]
    per_row = valid[..., None].astype(counts.dtype) * targets[:, None, :]  # [B, L, C]
    return counts.at[ids.reshape(-1)].add(per_row.reshape(-1, counts.shape[1]))


def count_rows(rows_of: Callable, shape: tuple[int, int], batches) -> jax.Array:
    """``float32[rows, classes + 1]``: how often each table row occurs in each class's texts,
    then in all texts (``shape`` is ``(rows, classes)``).

    ``rows_of(tokens, mask) -> (ids, valid)`` names the rows a batch looks up; it must be
    hashable and the same object each time (a module-level function, or one a cached
    factory returns), so the counting compiles once per batch width and is reused.
    Counts are float32: exact up to 2**24 occurrences of one row in one class.
    """
    counts = jnp.zeros((shape[0], shape[1] + 1), jnp.float32)
    for batch in batches:
        targets = class_targets(batch.labels, batch.weights, shape[1])
        counts = _add_counts(rows_of, counts, batch.tokens, batch.mask, targets)
    return counts
