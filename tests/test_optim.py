"""The optimizer wrapper that skips non-finite steps: exact skips, the plain update otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtext.training.optim import skip_if_not_finite


def _opt():
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2, weight_decay=0.01))


def _params():
    return {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}


def test_finite_gradients_get_the_plain_update():
    params, grads = _params(), {"w": jnp.full((2, 3), 0.3), "b": jnp.full(3, -0.2)}
    wrapped, plain = skip_if_not_finite(_opt()), _opt()
    got, state = wrapped.update(grads, wrapped.init(params), params)
    want, plain_state = plain.update(grads, plain.init(params), params)
    for a, b in zip(jax.tree.leaves((got, state.inner_state)),
                    jax.tree.leaves((want, plain_state)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(state.total_notfinite) == 0 and bool(state.last_finite)


def test_a_nan_or_inf_anywhere_skips_the_step_exactly():
    params, tx = _params(), skip_if_not_finite(_opt())
    state = tx.update({"w": jnp.full((2, 3), 0.3), "b": jnp.ones(3)}, tx.init(params), params)[1]
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        grads = {"w": jnp.full((2, 3), 0.3).at[1, 2].set(bad), "b": jnp.ones(3)}
        updates, after = jax.jit(tx.update)(grads, state, params)
        assert all(not np.asarray(u).any() for u in jax.tree.leaves(updates))
        for a, b in zip(jax.tree.leaves(after.inner_state), jax.tree.leaves(state.inner_state),
                        strict=True):
            np.testing.assert_array_equal(a, b)  # moments and step count untouched
        assert int(after.total_notfinite) == int(state.total_notfinite) + 1
        assert not bool(after.last_finite)
