"""Config -> optax optimizer and learning-rate schedule.

Built from hashable config values only, so the same settings give an equal
``OptimizerSpec`` and the trainer can reuse compiled steps across cell re-runs.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def make_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    """Clipping + the chosen optimizer, skipping any update whose gradients are not finite.

    ``apply_if_finite`` keeps the last good weights when a step produces NaN/inf; the
    trainer reads its ``total_notfinite`` counter to stop with a clear error.
    """
    lr = learning_rate_schedule(spec)
    if spec.name == "adamw":
        opt = optax.adamw(lr, weight_decay=spec.weight_decay)
    elif spec.name == "adam":
        opt = optax.adam(lr)
    else:
        opt = optax.chain(optax.add_decayed_weights(spec.weight_decay), optax.sgd(lr, momentum=0.9))
    if spec.grad_clip > 0:
        opt = optax.chain(optax.clip_by_global_norm(spec.grad_clip), opt)
    return optax.apply_if_finite(opt, max_consecutive_errors=1_000_000)
