"""The optimizer that skips non-finite steps: exact skips, the plain update otherwise."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtext.training.optim import OptimizerSpec, learning_rate_schedule, make_optimizer

SPEC = OptimizerSpec("adamw", lr=1e-2, weight_decay=0.01, schedule="constant", warmup_steps=0,
                     total_steps=100, grad_clip=1.0)


def _plain(spec):
    """What ``make_optimizer`` computes on finite gradients, written with optax alone."""
    lr = learning_rate_schedule(spec)
    opt = {"adamw": lambda: optax.adamw(lr, weight_decay=spec.weight_decay),
           "adam": lambda: optax.adam(lr),
           "sgd": lambda: optax.chain(optax.add_decayed_weights(spec.weight_decay),
                                      optax.sgd(lr, momentum=0.9))}[spec.name]()
    return optax.chain(optax.clip_by_global_norm(spec.grad_clip), opt) if spec.grad_clip else opt


def _params():
    return {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("clip", [1.0, 0.0])
def test_finite_gradients_get_the_plain_update(name, clip):
    spec = dataclasses.replace(SPEC, name=name, grad_clip=clip)
    params, plain, tx = _params(), _plain(spec), make_optimizer(spec)
    state, plain_state = tx.init(params), plain.init(params)
    assert jax.tree.structure(state.inner_state) == jax.tree.structure(plain_state)
    for scale in (0.3, 5.0, 0.1):  # clipped (norm > 1) and not; moments build up over steps
        grads = {"w": jnp.full((2, 3), scale), "b": jnp.full(3, -0.7 * scale)}
        got, state = jax.jit(tx.update)(grads, state, params)
        want, plain_state = plain.update(grads, plain_state, params)
        # the same arithmetic, up to rounding: with the decay rates float32 arrays, 1 - 0.999
        # is 0.00099998713 (exact in float32) where optax rounds the Python value to 0.001
        for a, b in zip(jax.tree.leaves((got, state.inner_state)),
                        jax.tree.leaves((want, plain_state)), strict=True):
            np.testing.assert_allclose(a, b, rtol=3e-5, atol=1e-9)
    assert int(state.total_notfinite) == 0 and bool(state.last_finite)


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("clip", [1.0, 0.0])
def test_a_nan_or_inf_anywhere_skips_the_step_exactly(name, clip):
    params = _params()
    tx = make_optimizer(dataclasses.replace(SPEC, name=name, grad_clip=clip))
    state = tx.init(params)
    for _ in range(2):  # moments and counts that are not zeros
        state = tx.update({"w": jnp.full((2, 3), 0.3), "b": jnp.ones(3)}, state, params)[1]
    for bad in (jnp.nan, jnp.inf, -jnp.inf, 1e30):  # 1e30: the norm overflows float32
        grads = {"w": jnp.full((2, 3), 0.3).at[1, 2].set(bad), "b": jnp.ones(3)}
        updates, after = jax.jit(tx.update)(grads, state, params)
        assert all(not np.asarray(u).any() for u in jax.tree.leaves(updates))
        for a, b in zip(jax.tree.leaves(after.inner_state), jax.tree.leaves(state.inner_state),
                        strict=True):
            np.testing.assert_array_equal(a, b)  # moments and step count untouched
        assert int(after.total_notfinite) == int(state.total_notfinite) + 1
        assert not bool(after.last_finite)
    good = {"w": jnp.full((2, 3), 0.3), "b": jnp.ones(3)}
    after = tx.update(good, after, params)[1]  # and the next finite step counts again
    assert bool(after.last_finite) and int(after.notfinite_count) == 0
