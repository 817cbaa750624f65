"""Keras 3 twins of jaxtext's classifiers, for the speed comparison in ``bench_classify.py``.

Each builder mirrors one jaxtext model at the sizes of its ``Config`` (read from the jaxtext
run, so the two stay the same when the defaults change) and is what a Keras user would write:
token ids padded with 0 to ``max_len``, ``Embedding(mask_zero=True)`` carrying the padding mask,
the same optimizer (AdamW, global-norm clipping, linear warmup then cosine decay) and loss.

Set ``KERAS_BACKEND=jax`` before importing this module (``bench_classify.py`` does).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops
from workloads import pad_ids  # noqa: F401  (the padding every twin shares)

# jaxtext's mlp hashes bigrams with this multiplier (jaxtext/models/mlp.py, _HASH_PRIME)
HASH_PRIME = 1_000_003


def hashed_bigrams(tokens: np.ndarray, buckets: int, offset: int) -> np.ndarray:
    """The bigram ids jaxtext's mlp computes inside the model, in numpy: int32[N, T].

    Column t holds the hash of (token t, token t+1) in ``[offset, offset + buckets)``, or 0
    (padding, masked out) where either token is padding; uint32 arithmetic wraps like jax's.
    """
    a = tokens.astype(np.uint32)
    b = np.zeros_like(a)
    b[:, :-1] = a[:, 1:]
    with np.errstate(over="ignore"):
        h = a * np.uint32(HASH_PRIME) + b
    ids = (h % np.uint32(buckets)).astype(np.int64) + offset
    return np.where((a != 0) & (b != 0), ids, 0).astype(np.int32)


class MaskedPool(layers.Layer):
    """Mean or max over the unmasked steps: float[B, T, D] -> float[B, D] (0 for empty rows)."""

    def __init__(self, kind: str, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], "bool")
        m = ops.expand_dims(mask, -1)
        if self.kind == "mean":
            w = ops.cast(m, x.dtype)
            return ops.sum(x * w, axis=1) / ops.maximum(ops.sum(w, axis=1), 1.0)
        best = ops.max(ops.where(m, x, -1e9), axis=1)
        return ops.where(ops.any(m, axis=1), best, 0.0)

    def compute_mask(self, inputs, mask=None):
        return None


class PositionEmbedding(layers.Layer):
    """Adds a learned position vector to every step (jaxtext: ``pos`` parameter)."""

    def __init__(self, max_len: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.pos = self.add_weight(shape=(max_len, dim),
                                   initializer=keras.initializers.RandomNormal(stddev=0.02),
                                   name="pos")

    def call(self, x):
        return x + self.pos[None, : ops.shape(x)[1]]


def mlp(cfg, vocab_size: int, classes: int, max_len: int) -> keras.Model:
    """Bag of token + hashed-bigram embeddings, masked mean, (hidden layers), Dense.

    Input: int32[B, 2 * max_len] = token ids then ``hashed_bigrams`` of them.
    """
    if cfg.ngrams > 2:
        raise ValueError("the Keras twin implements ngrams <= 2")
    rows = vocab_size + (cfg.ngram_buckets if cfg.ngrams == 2 else 0)
    width = max_len * (2 if cfg.ngrams == 2 else 1)
    ids = keras.Input((width,), dtype="int32")
    x = layers.Embedding(rows, cfg.dim, mask_zero=True)(ids)
    x = MaskedPool("mean")(x)
    x = layers.Dropout(cfg.dropout)(x)
    for _ in range(cfg.layers):
        x = layers.Dropout(cfg.dropout)(layers.Dense(cfg.hidden, activation="relu")(x))
    return keras.Model(ids, layers.Dense(classes)(x), name="keras_mlp")


def lstm(cfg, vocab_size: int, classes: int, max_len: int) -> keras.Model:
    """Embedding, (Bidirectional) LSTM layers, masked pooling, Dense; dropout as jaxtext's."""
    ids = keras.Input((max_len,), dtype="int32")
    x = layers.Dropout(cfg.dropout)(layers.Embedding(vocab_size, cfg.dim, mask_zero=True)(ids))
    for _ in range(cfg.layers):
        rnn = layers.LSTM(cfg.hidden, return_sequences=True)  # unit_forget_bias, like jaxtext
        x = layers.Bidirectional(rnn) (x) if cfg.bidirectional else rnn(x)
        x = layers.Dropout(cfg.dropout)(x)
    if cfg.pooling == "mean_max":
        x = layers.Concatenate()([MaskedPool("mean")(x), MaskedPool("max")(x)])
    else:
        x = MaskedPool(cfg.pooling)(x)
    x = layers.Dropout(cfg.dropout)(x)
    return keras.Model(ids, layers.Dense(classes)(x), name="keras_lstm")


def gelu(x):
    return keras.activations.gelu(x, approximate=True)  # jax.nn.gelu's default


def transformer(cfg, vocab_size: int, classes: int, max_len: int) -> keras.Model:
    """Pre-LN Transformer encoder with ``keras.layers.MultiHeadAttention``, masked mean."""
    if cfg.pooling != "mean":
        raise ValueError("the Keras twin implements pooling='mean'")
    ids = keras.Input((max_len,), dtype="int32")
    mask = ops.not_equal(ids, 0)
    attn_mask = ops.expand_dims(mask, 1)  # [B, 1, S]: never attend to padding
    x = layers.Embedding(vocab_size, cfg.dim)(ids)
    x = layers.Dropout(cfg.dropout)(PositionEmbedding(max_len, cfg.dim)(x))
    hidden = int(cfg.dim * cfg.mlp_ratio)
    for _ in range(cfg.layers):
        h = layers.LayerNormalization(epsilon=1e-6)(x)
        h = layers.MultiHeadAttention(cfg.heads, cfg.dim // cfg.heads)(h, h, attention_mask=attn_mask)
        x = layers.Add()([x, layers.Dropout(cfg.dropout)(h)])
        h = layers.LayerNormalization(epsilon=1e-6)(x)
        h = layers.Dense(cfg.dim)(layers.Dense(hidden, activation=gelu)(h))
        x = layers.Add()([x, layers.Dropout(cfg.dropout)(h)])
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Dropout(cfg.dropout)(MaskedPool("mean")(x, mask=mask))
    return keras.Model(ids, layers.Dense(classes)(x), name="keras_transformer")


BUILDERS = {"mlp": mlp, "lstm": lstm, "transformer": transformer}


def keras_inputs(model: str, cfg, tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """What the Keras twin of ``model`` reads: padded ids (+ hashed bigrams for the mlp)."""
    if model == "mlp" and cfg.ngrams == 2:
        return np.concatenate([tokens, hashed_bigrams(tokens, cfg.ngram_buckets, vocab_size)], 1)
    return tokens


def compile_like_jaxtext(model: keras.Model, config, total_steps: int) -> keras.Model:
    """AdamW + global-norm clipping + linear warmup then cosine decay, as jaxtext's optimizer."""
    warmup = int(round(config.warmup * total_steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.lr, decay_steps=max(1, total_steps - warmup),
        warmup_target=config.lr if warmup else None, warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay,
                                       global_clipnorm=config.grad_clip or None)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model
