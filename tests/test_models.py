"""Built-in models: shapes, training signal, masking, causality and cached decoding."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxtext.models  # noqa: F401  (registers the built-ins)
from jaxtext.models.base import Dims
from jaxtext.models.lstm import lstm_scan
from jaxtext.models.mlp import hashed_ngrams
from jaxtext.models.transformer import attention
from jaxtext.registry import models

VOCAB, CLASSES, MAX_LEN = 40, 3, 12
BUILTINS = [name for name, source in models.sources().items() if source == "built-in"]
LMS = ["mlp", "lstm", "transformer"]
TASKS = ["classify", "lm"]
# Tiny test programs: compile fast rather than run fast (about 3x quicker to compile on CPU).
jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0,
                                                    "xla_llvm_disable_expensive_passes": True})


def make(name: str, task: str, seed: int = 0, **config):
    cls = models.get(name)
    dims = Dims(VOCAB, CLASSES if task == "classify" else VOCAB, MAX_LEN, task)
    return cls(cls.Config(**config), dims, rngs=nnx.Rngs(seed))


def jitted(model, method: str = "__call__"):
    """``model.<method>`` as one compiled function (eager NNX would compile op by op: slow)."""
    graphdef, state = nnx.split(model)
    return jit(lambda *args: getattr(nnx.merge(graphdef, state, copy=True), method)(*args))


def batch(lengths=(12, 7, 1, 0), seed: int = 0):
    """Right-padded random tokens with the given lengths (0 = an all-padding row)."""
    rng = np.random.default_rng(seed)
    mask = np.arange(MAX_LEN)[None, :] < np.array(lengths)[:, None]
    tokens = np.where(mask, rng.integers(1, VOCAB, mask.shape), 0)
    return jnp.asarray(tokens, jnp.int32), jnp.asarray(mask)


def test_builtins_registered():
    assert {"mlp", "lstm", "transformer"} <= set(BUILTINS)


def _loss(logits, tokens, mask, task):
    if task == "classify":
        labels = jnp.arange(logits.shape[0]) % CLASSES
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    losses = optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], tokens[:, 1:])
    weights = mask[:, 1:]
    return (losses * weights).sum() / jnp.maximum(weights.sum(), 1)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", BUILTINS)
def test_one_jitted_step_changes_every_parameter(name, task):
    model = make(name, task)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    @jit
    def train_step(params, rest, opt_state, tokens, mask):
        def loss_fn(params):
            # copy=True: fresh Variables at this trace level, so dropout may advance its RNG
            m = nnx.merge(graphdef, params, rest, copy=True)
            out = m(tokens, mask)
            return _loss(out, tokens, mask, task), (out, nnx.state(m, nnx.Not(nnx.Param)))

        (loss, (out, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state, loss, grads, out

    tokens, mask = batch()  # includes a 1-token row and an all-padding row
    new_params, new_rest, _, loss, grads, out = train_step(params, rest, opt_state, tokens, mask)
    expected = (4, CLASSES) if task == "classify" else (4, MAX_LEN, VOCAB)
    assert out.shape == expected and out.dtype == jnp.float32
    assert np.isfinite(loss) and np.isfinite(out).all()
    old, new = nnx.to_flat_state(params), dict(nnx.to_flat_state(new_params))
    flat_grads = dict(nnx.to_flat_state(grads))
    for path, var in old:
        assert np.isfinite(flat_grads[path][...]).all(), path
        assert not np.array_equal(var[...], new[path][...]), f"{name}/{task}: {path} unchanged"
    # the dropout RNG state moved on, so the next step draws new masks
    assert not all(np.array_equal(a, b)
                   for a, b in zip(jax.tree.leaves(rest), jax.tree.leaves(new_rest), strict=True))

    # a batch that is all padding (a padded-out last batch) stays finite, gradients included
    empty = batch(lengths=(0, 0, 0, 0))
    *_, loss, grads, out = train_step(params, rest, opt_state, *empty)
    assert np.isfinite(out).all()
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("name, config", [(name, {}) for name in BUILTINS]
                         + [("mlp", {"ngrams": 3}), ("transformer", {"pooling": "cls"})])
def test_classify_ignores_padding(name, config):
    """Garbage ids under the mask and extra padding columns change nothing (eval mode)."""
    model = make(name, "classify", **config)
    model.eval()
    model = jitted(model)
    tokens, mask = batch(lengths=(9, 5, 1, 0))
    reference = model(tokens, mask)
    assert reference.shape == (4, CLASSES) and np.isfinite(reference).all()
    garbage = jnp.where(mask, tokens, 7)
    np.testing.assert_allclose(model(garbage, mask), reference, atol=1e-5)
    alone = model(tokens[:, :5], mask[:, :5])  # row 1 with no padding at all
    np.testing.assert_allclose(alone[1:], reference[1:], atol=1e-5)


@pytest.mark.parametrize("name", LMS)
def test_lm_is_causal_and_cached_decoding_matches_full_forward(name):
    model = make(name, "lm")
    model.eval()
    forward = jitted(model)
    tokens, mask = batch(lengths=(12, 9, 4, 0))
    full = np.asarray(forward(tokens, mask))
    assert full.shape == (4, MAX_LEN, VOCAB) and np.isfinite(full).all()

    # changing token t + 1 changes no logits at positions <= t
    t = 5
    changed = np.asarray(forward(tokens.at[:, t + 1].set(tokens[:, t + 1] % (VOCAB - 1) + 1), mask))
    np.testing.assert_allclose(changed[:2, : t + 1], full[:2, : t + 1], atol=1e-6)
    assert not np.allclose(changed[0, t + 1], full[0, t + 1])
    valid = np.asarray(mask)[..., None]

    step = jitted(model, "decode_step")
    cache = model.init_cache(4, MAX_LEN)
    for t in range(MAX_LEN):
        logits, cache = step(tokens[:, t], cache, jnp.int32(t))
        np.testing.assert_allclose(np.asarray(logits) * valid[:, t], full[:, t] * valid[:, t],
                                   atol=1e-4)

    # prefill ragged prompts, then continue token by token at each row's own position
    prompt = 3
    lengths = np.array([3, 3, 3, 0])
    p_mask = jnp.asarray(np.arange(prompt)[None, :] < lengths[:, None])
    logits, cache = jitted(model, "prefill")(tokens[:, :prompt], p_mask)
    np.testing.assert_allclose(logits[:3], full[:3, prompt - 1], atol=1e-4)
    position = jnp.asarray(lengths, jnp.int32)
    for t in range(prompt, 8):
        logits, cache = step(tokens[:, t], cache, position)
        np.testing.assert_allclose(logits[:2], full[:2, t], atol=1e-4)
        position = position + 1


def test_hashed_ngrams_skip_padding():
    tokens = jnp.array([[5, 7, 9, 0, 0]])
    mask = tokens > 0
    ids, valid = hashed_ngrams(tokens, mask, n=3, buckets=100, offset=40)
    assert ids.shape == (1, 10)
    assert valid.tolist() == [[True, True, False, False, False, True, False, False, False, False]]
    assert bool(((ids >= 40) & (ids < 140)).all())


def test_lstm_scan_gradient_matches_autodiff():
    t, b, h = 6, 3, 4
    rng = np.random.default_rng(0)
    gx = jnp.asarray(rng.normal(size=(t, b, 4 * h)), jnp.float32)
    wh = jnp.asarray(0.3 * rng.normal(size=(h, 4 * h)), jnp.float32)
    bias = jnp.asarray(0.1 * rng.normal(size=(4 * h,)), jnp.float32)
    c0, h0 = (jnp.asarray(a, jnp.float32) for a in rng.normal(size=(2, b, h)))
    w = jnp.asarray(rng.normal(size=(t, b, h)), jnp.float32)
    mask = jnp.asarray(np.arange(t)[:, None] < np.array([6, 2, 0])[None, :])

    def reference(gx, wh, bias, c0, h0, mask):
        def step(carry, inputs):
            c, hh = carry
            g, m = inputs
            i, f, gg, o = jnp.split(g + hh @ wh + bias, 4, axis=-1)
            cn = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
            hn = jax.nn.sigmoid(o) * jnp.tanh(cn)
            cn, hn = jnp.where(m[:, None], cn, c), jnp.where(m[:, None], hn, hh)
            return (cn, hn), hn
        return jax.lax.scan(step, (c0, h0), (gx, mask))

    def loss(fn):
        def f(*args):
            (c, hh), hs = fn(*args, mask)
            return (hs * w).sum() + (1.5 * c).sum() - hh.sum()
        return f

    ours = jit(jax.grad(loss(lstm_scan), argnums=range(5)))(gx, wh, bias, c0, h0)
    theirs = jit(jax.grad(loss(reference), argnums=range(5)))(gx, wh, bias, c0, h0)
    for a, b_ in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b_, atol=1e-4, rtol=1e-4)


def test_blocked_attention_matches_plain_softmax():
    b, h, t, d = 6, 2, 5, 4  # 6 rows: blocks of 2 (the model tests use 4 rows: one block)
    rng = np.random.default_rng(0)
    q, k, v, w = (jnp.asarray(rng.normal(size=(b, h, t, d)), jnp.float32) for _ in range(4))
    lengths = np.array([5, 3, 0, 1, 5, 2])  # row 2 sees no key at all
    keys = np.arange(t)[None, :] < lengths[:, None]
    mask = jnp.asarray(keys[:, None, None, :] & np.tri(t, dtype=bool))  # [B, 1, T, S]

    def plain(q, k, v, mask):
        s = jnp.einsum("bhtd,bhsd->bhts", q, k) / np.sqrt(d)
        return jnp.einsum("bhts,bhsd->bhtd", jax.nn.softmax(jnp.where(mask, s, -1e9)), v)

    def loss(fn):
        return lambda q, k, v: (fn(q, k, v, mask) * w).sum()

    np.testing.assert_allclose(jit(attention)(q, k, v, mask), plain(q, k, v, mask), atol=1e-5)
    ours = jit(jax.grad(loss(attention), argnums=(0, 1, 2)))(q, k, v)
    theirs = jit(jax.grad(loss(plain), argnums=(0, 1, 2)))(q, k, v)
    for a, b_ in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b_, atol=1e-4)


@pytest.mark.parametrize("name, bad", [
    ("transformer", {"dim": 30, "heads": 4}),
    ("transformer", {"pooling": "max"}),
    ("lstm", {"pooling": "sum"}),
    ("mlp", {"dropout": 1.0}),
    ("mlp", {"ngrams": 0}),
])
def test_bad_config_is_rejected(name, bad):
    with pytest.raises(ValueError):
        models.get(name).Config(**bad)


def test_transformer_untied_head_shape():
    tokens, mask = batch()
    out = jax.eval_shape(jitted(make("transformer", "lm", tie_weights=False)), tokens, mask)
    assert out.shape == (4, MAX_LEN, VOCAB)
