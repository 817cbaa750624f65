"""Pure, jitted train and eval steps over a functional split of an NNX model.

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params, rest, opt_state, sums, loss = train_step(params, rest, opt_state, sums, batch)

Metric *sums* stay on device and are fetched every ``log_every`` steps, so the hot loop
never waits for the device. Compiled steps are cached by (graphdef, optimizer spec, task),
which lets a re-run of the same notebook cell reuse them instead of compiling again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxtext.training.state import ModelState

_CACHE: dict[Any, Callable] = {}


def classify_loss(logits: jax.Array, batch) -> tuple[jax.Array, dict]:
    """Weighted mean cross-entropy; sums for logging. logits: float[B, C]."""
    logits = logits.astype(jnp.float32)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch.labels)
    w = batch.weights
    count = jnp.sum(w)
    correct = jnp.sum((jnp.argmax(logits, -1) == batch.labels) * w)
    loss = jnp.sum(nll * w) / jnp.maximum(count, 1.0)
    return loss, {"loss": jnp.sum(nll * w), "correct": correct, "count": count}


def lm_loss(logits: jax.Array, batch) -> tuple[jax.Array, dict]:
    """Weighted mean next-token cross-entropy. logits: float[B, T, V]."""
    logits = logits.astype(jnp.float32)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch.targets)
    w = batch.weights
    count = jnp.sum(w)
    loss = jnp.sum(nll * w) / jnp.maximum(count, 1.0)
    correct = jnp.sum((jnp.argmax(logits, -1) == batch.targets) * w)
    return loss, {"loss": jnp.sum(nll * w), "correct": correct, "count": count}


def zero_sums() -> dict:
    return {"loss": jnp.zeros(()), "correct": jnp.zeros(()), "count": jnp.zeros(())}


def model_inputs(batch) -> tuple[jax.Array, jax.Array]:
    """(tokens, mask) for either batch kind."""
    if hasattr(batch, "labels"):
        return batch.tokens, batch.mask
    return batch.inputs, batch.inputs != 0


def train_step_fn(model: ModelState, tx: optax.GradientTransformation, task: str, key: Any):
    """The jitted train step for this model structure, optimizer and task (cached)."""
    cache_key = ("train", model.train_graph, key, task)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    update = _update_fn(model.train_graph, tx, task)

    def train_step(params, rest, opt_state, sums, batch):
        params, rest, opt_state, loss, step_sums = update(params, rest, opt_state, batch)
        sums = jax.tree.map(jnp.add, sums, step_sums)
        # `loss` is not donated to the next step: the loop waits on it to bound the queue
        return params, rest, opt_state, sums, loss

    fn = jax.jit(train_step, donate_argnums=(0, 1, 2, 3))
    _CACHE[cache_key] = fn
    return fn


def lr_sweep_step_fn(model: ModelState, tx: optax.GradientTransformation, task: str, key: Any):
    """The LR finder's jitted step: a train step whose learning rate is an argument.

    ``tx`` is ``optim.swept_optimizer``: the rate goes into its state, so every rate of the
    sweep runs the one compiled step. ``step(params, rest, opt_state, batch, lr) ->
    (params, rest, opt_state, loss)``; loss is the batch's mean loss before the update.
    """
    cache_key = ("lr_sweep", model.train_graph, key, task)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    update = _update_fn(model.train_graph, tx, task)

    def sweep_step(params, rest, opt_state, batch, lr):
        hyperparams = {**opt_state.hyperparams, "learning_rate": lr}
        opt_state = opt_state._replace(hyperparams=hyperparams)
        params, rest, opt_state, loss, _ = update(params, rest, opt_state, batch)
        return params, rest, opt_state, loss

    fn = jax.jit(sweep_step, donate_argnums=(0, 1, 2))
    _CACHE[cache_key] = fn
    return fn


def _update_fn(graph, tx: optax.GradientTransformation, task: str):
    """One optimizer update on one batch (traced inside a jitted step)."""
    loss_fn = classify_loss if task == "classify" else lm_loss

    def update(params, rest, opt_state, batch):
        # nnx.value_and_grad (not jax's) so dropout's RNG counters may advance inside it.
        model = nnx.merge(graph, params, rest)
        tokens, mask = model_inputs(batch)

        def compute(model):
            return loss_fn(model(tokens, mask), batch)

        (loss, step_sums), grads = nnx.value_and_grad(compute, has_aux=True)(model)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, new_rest, opt_state, loss, step_sums

    return update


def eval_step_fn(model: ModelState, task: str):
    """classify: probabilities float[B, C]; lm: (nll_sum, token_count) as a dict of sums."""
    cache_key = ("eval", model.eval_graph, task)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    graph = model.eval_graph

    if task == "classify":
        def eval_step(params, rest, batch):
            model = nnx.merge(graph, params, rest)
            return jax.nn.softmax(model(batch.tokens, batch.mask).astype(jnp.float32), axis=-1)
    else:
        def eval_step(params, rest, batch):
            model = nnx.merge(graph, params, rest)
            tokens, mask = model_inputs(batch)
            _, sums = lm_loss(model(tokens, mask), batch)
            return sums

    fn = jax.jit(eval_step)
    _CACHE[cache_key] = fn
    return fn
