"""The vmapped train step of a sweep group: ``jit(vmap(train step))`` over stacked configurations.

The body is the one of ``steps.train_step_fn`` (merge, value_and_grad, optimizer update, metric
sums) with the optimizer built inside the step from each configuration's traced lr, weight decay
and clipping threshold. ``tests/test_sweep.py`` checks that a sweep's weights equal those of
``jaxtext.train`` per configuration, so the two bodies cannot drift apart unnoticed.

vmap batches the configurations' work, it does not shrink it: each has its own tables and
optimizer state, so a step of K costs about K single steps' compiled time, and what a group
saves is mostly the dispatch and host work of the other steps (benchmarks/README.md, "Why 8
configurations together are not 2x faster here"; ``benchmarks/profile_sweep.py``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxtext.training.optim import OptimizerSpec, make_optimizer
from jaxtext.training.state import ModelState
from jaxtext.training.steps import classify_loss, lm_loss, model_inputs

TRACES: Counter = Counter()  # times the vmapped step was traced ("train"): one per batch shape
_CACHE: dict = {}


def stack_configs(trees: list):
    """Equal pytrees, one per configuration -> one pytree with a leading axis of them."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def take_config(tree, i: int):
    """Configuration ``i``'s slice of a stacked pytree."""
    return jax.tree.map(lambda x: x[i], tree)


def chunk_slices(k: int, most: int) -> list[slice]:
    """``k`` configurations in near-equal runs of at most ``most``, one vmapped call each.

    >>> chunk_slices(8, 4), chunk_slices(5, 4), chunk_slices(3, 4)
    ([slice(0, 4, None), slice(4, 8, None)], [slice(0, 2, None), slice(2, 5, None)], [slice(0, 3, None)])
    """
    n = -(-k // most)
    bounds = [k * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def sweep_step_fn(model: ModelState, spec: OptimizerSpec, task: str, clip: bool):
    """jit(vmap(train step)): ``(params, rest, opt_state, sums, hyper, batch)`` -> the same
    plus per-config losses; every argument but ``batch`` has a leading axis of configs, and
    ``hyper`` holds their lr, weight_decay and grad_clip (float32[K])."""
    static = dataclasses.replace(spec, lr=0.0, weight_decay=0.0, grad_clip=float(clip))
    key = (model.train_graph, static, task)
    if key in _CACHE:
        return _CACHE[key]
    graph = model.train_graph
    loss_fn = classify_loss if task == "classify" else lm_loss

    def one(params, rest, opt_state, sums, hyper, batch):
        tx = make_optimizer(dataclasses.replace(
            spec, lr=hyper["lr"], weight_decay=hyper["weight_decay"],
            grad_clip=hyper["grad_clip"] if clip else 0.0))
        model = nnx.merge(graph, params, rest)
        tokens, mask = model_inputs(batch)

        def compute(model):
            return loss_fn(model(tokens, mask), batch)

        (loss, step_sums), grads = nnx.value_and_grad(compute, has_aux=True)(model)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        sums = jax.tree.map(jnp.add, sums, step_sums)
        return params, new_rest, opt_state, sums, loss

    def step(params, rest, opt_state, sums, hyper, batch):
        TRACES["train"] += 1  # runs once per trace, never per call
        return jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None))(params, rest, opt_state, sums,
                                                             hyper, batch)

    fn = jax.jit(step, donate_argnums=(0, 1, 2, 3))
    _CACHE[key] = fn
    return fn
