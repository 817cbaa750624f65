"""Config -> optax optimizer and learning-rate schedule.

Built from hashable config values only, so the same settings give an equal
``OptimizerSpec`` and the trainer can reuse compiled steps across cell re-runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax


@dataclass(frozen=True)
class OptimizerSpec:
    name: str  # adamw | adam | sgd
    lr: float
    weight_decay: float
    schedule: str  # cosine | linear | constant
    warmup_steps: int
    total_steps: int
    grad_clip: float

    @classmethod
    def from_config(cls, config, total_steps: int) -> OptimizerSpec:
        return cls(config.optimizer, config.lr, config.weight_decay, config.schedule,
                   int(round(config.warmup * total_steps)), max(1, total_steps), config.grad_clip)


def learning_rate_schedule(spec: OptimizerSpec) -> optax.Schedule:
    """Linear warmup from 0 to ``lr``, then cosine/linear decay to 0 (or constant)."""
    warmup = min(spec.warmup_steps, spec.total_steps - 1)
    decay_steps = max(1, spec.total_steps - warmup)
    if spec.schedule == "cosine":
        decay = optax.cosine_decay_schedule(spec.lr, decay_steps)
    elif spec.schedule == "linear":
        decay = optax.linear_schedule(spec.lr, 0.0, decay_steps)
    else:
        decay = optax.constant_schedule(spec.lr)
    if warmup <= 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, spec.lr, warmup), decay], [warmup])


def make_optimizer(spec: OptimizerSpec, learning_rate=None) -> optax.GradientTransformation:
    """Clipping + the chosen optimizer, skipping any update whose gradients are not finite.

    A skipped step leaves the weights and the optimizer state as they were; the trainer reads
    the ``total_notfinite`` counter to stop with a clear error, keeping the last good weights.
    ``learning_rate`` (a number, traced or not) replaces the spec's schedule.
    """
    lr = learning_rate_schedule(spec) if learning_rate is None else learning_rate
    if spec.name == "adamw":
        opt = optax.adamw(lr, weight_decay=spec.weight_decay)
    elif spec.name == "adam":
        opt = optax.adam(lr)
    else:
        opt = optax.chain(optax.add_decayed_weights(spec.weight_decay), optax.sgd(lr, momentum=0.9))
    # a sweep passes a traced grad_clip (an array): clipping is on for all of its configs
    if not isinstance(spec.grad_clip, (int, float)) or spec.grad_clip > 0:
        opt = optax.chain(optax.clip_by_global_norm(spec.grad_clip), opt)
    return skip_if_not_finite(opt)


def swept_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    """The run's optimizer with its learning rate a hyperparameter held in the state
    (``optax.inject_hyperparams``), so the LR finder sets a new rate each step without a
    recompile: ``state.hyperparams["learning_rate"]``."""
    return optax.inject_hyperparams(
        lambda learning_rate: make_optimizer(spec, learning_rate))(learning_rate=spec.lr)


def skip_if_not_finite(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """``optax.apply_if_finite`` (never giving up), with its state layout, made cheaper.

    ``apply_if_finite`` tests every leaf and chooses between the updated and the old state with
    a ``lax.cond``, which XLA's CPU backend runs as a separate region: measured 5.3 ms against
    4.6 ms here for the bag model's whole step (batch 64, 256 tokens, 2-core CPU). Here one
    global norm (the clipping's own reduction) says whether the gradients are finite, and
    elementwise selects, fused into the optimizer's update, keep the old values when they are
    not. A gradient whose norm overflows float32 (> 1.8e19) counts as not finite.
    """

    def init(params):
        return optax.ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32), last_finite=jnp.array(True),
            total_notfinite=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

    def update(grads, state, params=None):
        finite = jnp.isfinite(optax.global_norm(grads))
        updates, inner_state = inner.update(grads, state.inner_state, params)
        updates = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), updates)
        inner_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), inner_state,
                                   state.inner_state)
        failed = (~finite).astype(jnp.int32)
        return updates, optax.ApplyIfFiniteState(
            notfinite_count=jnp.where(finite, 0, state.notfinite_count + 1), last_finite=finite,
            total_notfinite=state.total_notfinite + failed, inner_state=inner_state)

    return optax.GradientTransformation(init, update)
