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

from jaxtext.training.precision import cast_floats
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


def regression_error(predicted: jax.Array, target: jax.Array, kind: str) -> jax.Array:
    """Per-row error of standardized targets: ``mse`` (squared), ``mae`` (absolute) or
    ``huber`` (squared within one std, linear beyond). Works on numpy arrays too."""
    diff = predicted - target
    if kind == "mae":
        return abs(diff)
    if kind == "huber":
        return optax.huber_loss(predicted, target, delta=1.0)
    return diff * diff


def regression_loss_fn(kind: str):
    """The loss of ``task: regression`` for ``loss: mse|mae|huber``. logits: float[B, 1]."""

    def regression_loss(logits: jax.Array, batch) -> tuple[jax.Array, dict]:
        error = regression_error(logits[:, 0].astype(jnp.float32), batch.labels, kind or "mse")
        w = batch.weights
        count = jnp.sum(w)
        total = jnp.sum(error * w)
        return total / jnp.maximum(count, 1.0), {"loss": total, "correct": jnp.zeros(()),
                                                  "count": count}

    return regression_loss


def multilabel_loss(logits: jax.Array, batch) -> tuple[jax.Array, dict]:
    """Sigmoid cross-entropy averaged over labels, weighted mean over rows. logits: float[B, K];
    ``correct`` counts rows whose every label is right at 0.5 (exact match)."""
    logits = logits.astype(jnp.float32)
    nll = optax.sigmoid_binary_cross_entropy(logits, batch.labels).mean(-1)
    w = batch.weights
    count = jnp.sum(w)
    exact = jnp.all((logits > 0) == (batch.labels > 0.5), axis=-1)
    loss = jnp.sum(nll * w) / jnp.maximum(count, 1.0)
    return loss, {"loss": jnp.sum(nll * w), "correct": jnp.sum(exact * w), "count": count}


def loss_fn_for(task: str, loss: str = ""):
    """The training loss of a task (``loss`` picks regression's)."""
    if task == "regression":
        return regression_loss_fn(loss)
    return {"classify": classify_loss, "lm": lm_loss, "multilabel": multilabel_loss}[task]


def zero_sums() -> dict:
    return {"loss": jnp.zeros(()), "correct": jnp.zeros(()), "count": jnp.zeros(())}


def model_inputs(batch) -> tuple[jax.Array, jax.Array]:
    """(tokens, mask) for either batch kind (per-text ``Batch`` or ``LMBatch``)."""
    if hasattr(batch, "labels"):
        return batch.tokens, batch.mask
    return batch.inputs, batch.inputs != 0


def train_step_fn(model: ModelState, tx: optax.GradientTransformation, task: str, key: Any,
                  loss: str = "", *, accumulate: int = 1, dtype: Any = jnp.float32):
    """The jitted train step for this model structure, optimizer, task and loss (cached);
    ``accumulate`` and ``dtype`` as in ``_update_fn``."""
    dtype = jnp.dtype(dtype)
    cache_key = ("train", model.train_graph, key, task, loss, accumulate, dtype.name)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    update = _update_fn(model.train_graph, tx, task, loss, accumulate=accumulate, dtype=dtype)

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


def _update_fn(graph, tx: optax.GradientTransformation, task: str, loss: str = "", *,
               accumulate: int = 1, dtype: Any = jnp.float32):
    """One optimizer update on one batch (traced inside a jitted step): ``update(params, rest,
    opt_state, batch) -> (params, rest, opt_state, mean loss, metric sums)``.

    ``accumulate``: the batch is split into that many micro-batches whose gradients are summed
    in a ``lax.scan`` before one update (the same update as one big batch, in less memory).
    ``dtype``: the compute dtype of the forward/backward pass (see ``precision.py``).
    """
    loss_fn = loss_fn_for(task, loss)
    dtype = jnp.dtype(dtype)

    def forward(params, rest, batch, summed: bool):
        """-> (loss to differentiate, (metric sums, the non-parameter state after the call)).

        ``rest`` comes back because dropout's RNG counters advance inside the call."""
        model = nnx.merge(graph, cast_floats(params, dtype), rest, copy=True)
        loss, sums = loss_fn(model(*model_inputs(batch)), batch)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return (sums["loss"] if summed else loss), (sums, new_rest)

    def gradients(params, rest, batch):
        if accumulate == 1:
            (loss, (sums, rest)), grads = jax.value_and_grad(forward, has_aux=True)(
                params, rest, batch, False)
            return grads, sums, rest, loss

        def one_micro_batch(carry, micro):
            rest, grads, sums = carry
            (_, (more, rest)), g = jax.value_and_grad(forward, has_aux=True)(
                params, rest, micro, True)
            return (rest, jax.tree.map(jnp.add, grads, g), jax.tree.map(jnp.add, sums, more)), None

        start = (rest, jax.tree.map(jnp.zeros_like, params), zero_sums())
        (rest, grads, sums), _ = jax.lax.scan(one_micro_batch, start,
                                              split_micro_batches(batch, accumulate))
        count = jnp.maximum(sums["count"], 1.0)
        return jax.tree.map(lambda g: g / count, grads), sums, rest, sums["loss"] / count

    def update(params, rest, opt_state, batch):
        grads, step_sums, new_rest, loss = gradients(params, rest, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, new_rest, opt_state, loss, step_sums

    return update


def split_micro_batches(batch, parts: int):
    """Every array ``[N, ...]`` -> ``[parts, N / parts, ...]``, micro-batch ``j`` taking rows
    ``j, j + parts, ...``: with the batch split over devices along N, each device's rows stay
    its own (no data moves between devices)."""
    def split(x):
        return x.reshape((x.shape[0] // parts, parts) + x.shape[1:]).swapaxes(0, 1)
    return jax.tree.map(split, batch)


_OUTPUTS = {  # per-text tasks: what the eval step returns from the model's float[B, K]
    "classify": lambda logits: jax.nn.softmax(logits, axis=-1),  # class probabilities
    "multilabel": jax.nn.sigmoid,  # one probability per label
    "regression": lambda logits: logits,  # standardized predictions, float[B, 1]
}


def eval_step_fn(model: ModelState, task: str):
    """Per-text tasks: outputs float[B, K] (see ``_OUTPUTS``); lm: (nll_sum, token_count)
    as a dict of sums."""
    cache_key = ("eval", model.eval_graph, task)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    graph = model.eval_graph

    if task in _OUTPUTS:
        output = _OUTPUTS[task]

        def eval_step(params, rest, batch):
            model = nnx.merge(graph, params, rest)
            return output(model(batch.tokens, batch.mask).astype(jnp.float32))
    else:
        def eval_step(params, rest, batch):
            model = nnx.merge(graph, params, rest)
            tokens, mask = model_inputs(batch)
            _, sums = lm_loss(model(tokens, mask), batch)
            return sums

    fn = jax.jit(eval_step)
    _CACHE[cache_key] = fn
    return fn
