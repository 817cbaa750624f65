"""Built-in models: shapes, training signal, masking, causality and cached decoding."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxtext
import jaxtext.models  # noqa: F401  (registers the built-ins)
from jaxtext.data import Batch, LMBatch
from jaxtext.models.lstm import lstm_scan
from jaxtext.models.mlp import hashed_ngrams
from jaxtext.models.transformer import attention
from jaxtext.protocols import Dims
from jaxtext.registry import models
from jaxtext.training.optim import OptimizerSpec, make_optimizer
from jaxtext.training.state import init_model_state
from jaxtext.training.steps import train_step_fn, zero_sums

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


class Bag(nnx.Module):
    """A model plugin written the way a user would: registered inside the test below."""

    @dataclass(frozen=True)
    class Config:
        dim: int = 8

    def __init__(self, config, dims, *, rngs):
        self.lm = dims.task == "lm"
        self.embed = nnx.Embed(dims.vocab_size, config.dim, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)
        self.out = nnx.Linear(config.dim, dims.num_outputs, rngs=rngs)

    def __call__(self, tokens, mask):
        e = self.dropout(self.embed(tokens))
        if self.lm:
            return self.out(e)
        m = mask[..., None]
        return self.out((e * m).sum(1) / (m.sum(1) + 1e-6))


@pytest.fixture
def registered_plugin():
    jaxtext.register_model("test_bag", Bag)
    yield "test_bag"
    models.unregister("test_bag")


def product_batch(task, lengths=(12, 7, 1, 0)):
    """The trainer's own batch types, built from ``batch()`` rows."""
    tokens, mask = (np.asarray(a) for a in batch(lengths))
    if task == "classify":
        return Batch(tokens, mask, np.arange(len(tokens), dtype=np.int32) % CLASSES,
                     np.asarray(mask.any(1), np.float32), None)
    targets = np.concatenate([tokens[:, 1:], np.zeros((len(tokens), 1), np.int32)], 1)
    return LMBatch(tokens, targets, np.asarray(targets != 0, np.float32))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", [*models.names(), "plugin"])
def test_one_product_step_changes_every_parameter(name, task, request):
    """The trainer's real jitted step (steps.train_step_fn), for every model and task."""
    name = request.getfixturevalue("registered_plugin") if name == "plugin" else name
    cfg = jaxtext.Config.from_dict({"model": name, "task": task, "sample_tokens": 0})
    dims = Dims(VOCAB, CLASSES if task == "classify" else VOCAB, MAX_LEN, task)
    model = init_model_state(cfg, dims)
    spec = OptimizerSpec.from_config(cfg, total_steps=10)
    tx = make_optimizer(spec)
    step = train_step_fn(model, tx, task, spec)
    out = jax.eval_shape(model.module(), *batch())
    expected = (4, CLASSES) if task == "classify" else (4, MAX_LEN, VOCAB)
    assert out.shape == expected and out.dtype == jnp.float32

    params, rest, opt_state = jax.tree.map(jnp.copy, (model.params, model.rest,
                                                      tx.init(model.params)))
    new_params, new_rest, opt_state, sums, _ = step(params, rest, opt_state, zero_sums(),
                                                    product_batch(task))
    assert np.isfinite(float(sums["loss"])) and float(sums["count"]) > 0
    assert int(opt_state.total_notfinite) == 0  # finite gradients everywhere
    old, new = nnx.to_flat_state(model.params), dict(nnx.to_flat_state(new_params))
    for path, var in old:
        assert not np.array_equal(var[...], new[path][...]), f"{name}/{task}: {path} unchanged"
    # the dropout RNG state moved on, so the next step draws new masks
    assert not all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(model.rest), jax.tree.leaves(new_rest), strict=True))

    # a batch that is all padding (a padded-out last batch) stays finite
    *_, opt_state, sums, _ = step(new_params, new_rest, opt_state, zero_sums(),
                                  product_batch(task, lengths=(0, 0, 0, 0)))
    assert np.isfinite(float(sums["loss"])) and int(opt_state.total_notfinite) == 0


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
