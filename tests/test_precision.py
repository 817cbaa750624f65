"""Gradient accumulation, mixed precision and the attention kernels (issue 13), on the CPU."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

import jaxtext
from jaxtext.errors import ConfigError
from jaxtext.models.transformer import attend, attention, library_attention, resolve_attention
from jaxtext.training.precision import cast_floats, compute_dtype

# The transformer's key bias has a gradient of exactly zero in exact arithmetic (a constant
# added to every key leaves the softmax unchanged), so its float gradient is rounding noise that
# Adam scales up to full-size steps: its comparisons use SGD, which keeps noise small.
SMALL = {"lstm": {"hidden": 16, "dim": 16, "dropout": 0.0},
         "transformer": {"dim": 16, "heads": 2, "dropout": 0.0, "optimizer": "sgd", "lr": 0.1},
         "mlp": {}}


def _params(run):
    return [np.asarray(x) for x in jax.tree.leaves(run.model_state.params)]


@pytest.mark.parametrize("model", ["mlp", "lstm", "transformer"])
def test_accumulating_four_batches_of_64_is_one_batch_of_256(model):
    base = {**TINY, "model": model, "epochs": 1, "limit": 1200, "max_len": 32, "dim": 16,
            **SMALL[model]}
    if model != "mlp":
        base.pop("ngram_buckets")
    big = jaxtext.train({**base, "batch_size": 256}, callbacks=[])
    accumulated = jaxtext.train({**base, "batch_size": 64, "accumulate": 4}, callbacks=[])
    assert big.steps == accumulated.steps == 5  # 1,200 examples in batches of 256
    for a, b in zip(_params(big), _params(accumulated), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-5)  # Adam: ~lr / 400
    np.testing.assert_allclose(big.history.loss.dropna(), accumulated.history.loss.dropna(),
                               rtol=1e-5)


def test_bf16_trains_float32_weights_to_the_same_accuracy():
    f32 = jaxtext.train({**TINY, "precision": "f32"}, callbacks=[])
    bf16 = jaxtext.train({**TINY, "precision": "bf16"}, callbacks=[])
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(bf16.model_state.params))
    assert all(x.dtype != jnp.bfloat16 for x in jax.tree.leaves(bf16.opt_state))
    assert bf16.test_metrics["accuracy"] > 0.65  # rotten tomatoes: chance is 0.5
    assert abs(bf16.test_metrics["accuracy"] - f32.test_metrics["accuracy"]) < 0.02
    assert any(not np.array_equal(a, b) for a, b in zip(_params(f32), _params(bf16), strict=True))


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_bf16_steps_of_the_recurrent_and_attention_models_learn(model):
    base = {**TINY, "model": model, "epochs": 2, "limit": 1500, **SMALL[model]}
    base.pop("ngram_buckets")
    run = jaxtext.train({**base, "precision": "bf16", "lr": 5e-3}, callbacks=[])
    loss = run.history.loss.dropna().to_numpy()
    assert run.status == "completed" and np.isfinite(loss).all()
    assert loss[-3:].mean() < loss[:3].mean()


def test_precision_auto_is_float32_on_a_cpu_and_bf16_on_accelerators():
    assert compute_dtype("auto", "cpu") == jnp.float32
    assert compute_dtype("auto", "gpu") == jnp.bfloat16 == compute_dtype("auto", "tpu")
    assert compute_dtype("f32", "gpu") == jnp.float32
    tree = {"w": jnp.ones(3), "count": jnp.ones(3, jnp.uint32)}
    cast = cast_floats(tree, jnp.bfloat16)
    assert cast["w"].dtype == jnp.bfloat16 and cast["count"].dtype == jnp.uint32


@pytest.mark.parametrize(("key", "value", "message"), [
    ("precision", "fp16", "precision must be one of auto, f32, bf16"),
    ("precision", "bf61", "did you mean 'bf16'"),
    ("accumulate", 0, "accumulate must be at least 1"),
    ("attention", "flash", "attention must be one of auto, blocked, xla, cudnn"),
])
def test_bad_precision_accumulate_and_attention_keys(key, value, message):
    with pytest.raises(ConfigError, match=message):
        jaxtext.Config.from_dict(model="transformer", **{key: value})


def _qkv(b=4, h=2, t=24, d=8, dtype=jnp.float32):
    q, k, v = jax.random.normal(jax.random.key(0), (3, b, h, t, d), dtype)
    lengths = jnp.array([24, 17, 5, 1])
    mask = (jnp.arange(t)[None, :] < lengths[:, None])[:, None, None, :]
    return q, k, v, mask


@pytest.mark.parametrize("causal", [False, True])
def test_blocked_and_library_attention_agree_with_gradients(causal):
    q, k, v, mask = _qkv()
    if causal:
        mask = mask & jnp.tril(jnp.ones((24, 24), bool))

    def loss(fn):
        return lambda q, k, v: (fn(q, k, v, mask) * v).sum()

    library = lambda q, k, v, m: library_attention(q, k, v, m, implementation="xla")  # noqa: E731
    np.testing.assert_allclose(attention(q, k, v, mask), library(q, k, v, mask), atol=2e-5)
    grads = jax.grad(loss(attention), argnums=(0, 1, 2))(q, k, v)
    expected = jax.grad(loss(library), argnums=(0, 1, 2))(q, k, v)
    for g, e in zip(grads, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=5e-5)


def test_blocked_attention_in_bf16_keeps_float32_statistics():
    q, k, v, mask = _qkv()
    exact = attention(q, k, v, mask)
    low = attention(*(x.astype(jnp.bfloat16) for x in (q, k, v)), mask)
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(low.astype(jnp.float32), exact, atol=0.05)
    grads = jax.grad(lambda q: attention(q, k.astype(q.dtype), v.astype(q.dtype), mask)
                     .astype(jnp.float32).sum())(q.astype(jnp.bfloat16))
    assert grads.dtype == jnp.bfloat16 and jnp.isfinite(grads.astype(jnp.float32)).all()


def test_attention_auto_is_blocked_on_cpu_and_the_library_elsewhere():
    assert resolve_attention("auto", "cpu") == "blocked"
    assert resolve_attention("auto", "gpu") == "library" == resolve_attention("auto", "tpu")
    assert resolve_attention("xla", "cpu") == "xla"
    q, k, v, mask = _qkv()
    np.testing.assert_allclose(attend("blocked", q, k, v, mask), attend("xla", q, k, v, mask),
                               atol=2e-5)


def test_transformer_with_library_attention_trains_and_generates_the_same():
    base = {**TINY, "model": "transformer", "epochs": 1, "limit": 600, **SMALL["transformer"]}
    base.pop("ngram_buckets")
    blocked = jaxtext.train({**base, "attention": "blocked"}, callbacks=[])
    xla = jaxtext.train({**base, "attention": "xla"}, callbacks=[])
    for a, b in zip(_params(blocked), _params(xla), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert (blocked.predict(["a fine film"]).label == xla.predict(["a fine film"]).label).all()


ACCUMULATE_TWO_DEVICES = """
import json, jax, jaxtext
from conftest import TINY
run = jaxtext.train({**TINY, "epochs": 1, "batch_size": 16, "accumulate": 4}, callbacks=[])
print(json.dumps({"devices": jax.device_count(), "loss": run.history.loss.dropna().tolist()}))
"""


@pytest.mark.slow
def test_accumulation_over_two_devices_matches_one_device():
    def run_with(devices):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
               "JAX_PLATFORMS": "cpu"}
        out = subprocess.run([sys.executable, "-c", ACCUMULATE_TWO_DEVICES],
                             capture_output=True, text=True, env=env,
                             cwd=os.path.dirname(__file__), timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    one, two = run_with(1), run_with(2)
    assert (one["devices"], two["devices"]) == (1, 2)
    np.testing.assert_allclose(one["loss"], two["loss"], rtol=1e-4, atol=1e-5)
