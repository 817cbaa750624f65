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

    def build(keep=True) -> optax.GradientTransformation:
        """The optimizer; with ``keep`` False (traced) its moments' decay rates are 1 and its
        weight decay 0, so zero gradients leave every moment exactly as it was."""
        def kept(value, skipped):
            return value if keep is True else jnp.where(keep, value, skipped)

        if spec.name == "adamw":
            return optax.adamw(lr, b1=kept(0.9, 1.0), b2=kept(0.999, 1.0),
                               weight_decay=spec.weight_decay)
        if spec.name == "adam":
            return optax.adam(lr, b1=kept(0.9, 1.0), b2=kept(0.999, 1.0))
        return optax.chain(optax.add_decayed_weights(kept(spec.weight_decay, 0.0)),
                           optax.sgd(lr, momentum=kept(0.9, 1.0)))

    # a sweep passes a traced grad_clip (an array): clipping is on for all of its configs
    clip = spec.grad_clip if not isinstance(spec.grad_clip, (int, float)) or spec.grad_clip > 0 \
        else None
    return skip_if_not_finite(build, clip)


def swept_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    """The run's optimizer with its learning rate a hyperparameter held in the state
    (``optax.inject_hyperparams``), so the LR finder sets a new rate each step without a
    recompile: ``state.hyperparams["learning_rate"]``."""
    return optax.inject_hyperparams(
        lambda learning_rate: make_optimizer(spec, learning_rate))(learning_rate=spec.lr)


def skip_if_not_finite(build, clip=None) -> optax.GradientTransformation:
    """``chain(clip_by_global_norm(clip), build())`` wrapped as ``optax.apply_if_finite``
    (never giving up, the same state layout), in fewer passes over the weights.

    ``apply_if_finite`` chooses between the updated and the old state with a ``lax.cond``, and
    an elementwise select of old or new moments makes XLA copy them (the donated buffers are
    read by two fusions): measured on the bag model (20,000 x 64 embedding, 2-core CPU) 3.9
    and 3.2 ms a step against 2.7 ms for the plain optimizer. Here one global norm serves the
    finiteness test and the clipping, gradients that are not finite become zeros, and
    ``build(keep=finite)`` makes an optimizer whose moments then stay exactly as they were
    (decay rates of 1); only the updates and the scalar counters are selected: 2.7 ms. A
    gradient whose norm overflows float32 (> 1.8e19) counts as not finite.
    """
    template = build()

    def init(params):
        inner = template.init(params)
        return optax.ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32), last_finite=jnp.array(True),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner if clip is None else (optax.EmptyState(), inner))

    def update(grads, state, params=None):
        norm = optax.tree.norm(grads)
        finite = jnp.isfinite(norm)

        def usable(g):
            if clip is not None:  # optax.clip_by_global_norm's arithmetic, on the shared norm
                g = jnp.where(norm < clip, g, (g / norm.astype(g.dtype)) * clip)
            return jnp.where(finite, g, 0.0)

        grads = jax.tree.map(usable, grads)
        old = state.inner_state if clip is None else state.inner_state[1]
        updates, new = build(finite).update(grads, old, params)
        updates = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), updates)
        new = jax.tree.map(lambda n, o: n if n.ndim else jnp.where(finite, n, o), new, old)
        failed = (~finite).astype(jnp.int32)
        return updates, optax.ApplyIfFiniteState(
            notfinite_count=jnp.where(finite, 0, state.notfinite_count + 1), last_finite=finite,
            total_notfinite=state.total_notfinite + failed,
            inner_state=new if clip is None else (state.inner_state[0], new))

    return optax.GradientTransformation(init, update)
