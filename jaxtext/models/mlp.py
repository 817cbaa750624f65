"""``mlp``: a fastText-style bag of embeddings (classify) or a Bengio n-gram MLP (lm).

classify: each text is the mean of the embeddings of its tokens, optionally with hashed word
n-grams (Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification"), then an MLP.
N-gram ids are hashed inside the model from the token ids into ``ngram_buckets`` extra rows of
the one embedding table, so the data pipeline stays unaware of them.

Measured on IMDB (20k train / 5k held out, word tokens, 2 epochs, AdamW): what decides accuracy
is the learning rate and how much of each review is kept, not bigrams. Unigrams, dim 16,
lr 2e-2: 0.878 at max_len 256, 0.897 at max_len 1024 (15 s on 2 cores); lr 2e-3: 0.86.
Bigrams hurt under Adam (0.867 at 256, 0.885 at 1024) because Adam moves the row of a bigram
seen once as far as the row of a frequent word, so the bag memorizes the training set; with
their rows scaled down 10x they tie with unigrams (0.896) and cost a 7x larger table (the dense
optimizer update over the table dominates the step). Hence ``ngrams=1`` by default, and
``training_defaults`` asks for lr 2e-2 and max_len 1024.

The ``accurate`` preset (bigrams at ``ngram_scale`` 0.3, 3 epochs) is for short texts: on
Rotten Tomatoes it lifts test accuracy from 0.758 to 0.788; on IMDB it ties (0.898), short of
0.91. Other IMDB settings tried (test split, 5k, 2-3 epochs; busy cores): a 100k vocabulary
0.900; dim 64 0.895; bigrams at batch 256, lr 5e-2 0.896, with 1M buckets 0.895; weight decay
0.1 / 0.3 0.897 / 0.890 (1.0 and 3.0 at batch 256: 0.870 / 0.803); SGD with momentum, lr
1-20, up to 10 epochs: at most 0.875; Adam eps 1e-5 / 1e-4: 0.882 / 0.868. The likely limit is
Adam on sparse rows: after one occurrence a row keeps moving for ~10 steps by ~3x the rate
each (its second moment is tiny), ~30x the rate in all, where a word in every batch moves ~1x
per step; so rare n-grams weigh in like frequent words. Stepping the table by its gradient
instead does worse (optax.multi_transform, AdamW on the head; 3 epochs, bigrams at scale 1,
full IMDB test split, quiet cores): SGD on the table, lr 5 / 20 / 100 / 400 / 1500 (a row's
gradient is ~1/(64 x length) of fastText's per-example one): 0.807 / 0.840 / 0.845 / 0.845 /
0.844; Adagrad, lr 0.1-0.5, initial accumulator 0.1: 0.66-0.78, 0.01: 0.81, 1e-6: 0.858 (lr
0.05), 0.873 (lr 0.2); Adam on the table with its own eps 1e-6 / 1e-5 / 1e-4: 0.887 / 0.886 /
0.877 (unigrams, eps 1e-6: 0.896). A bag of words and hashed bigrams under these optimizers
levels off at ~0.90 on IMDB; 0.91 needs more than the bag sees. The preset with one change
(quiet cores, full test split): max_len 2048 0.896; trigrams at scale 0.2 0.901; dim 32 with
dropout 0.3 0.895; a 60k vocabulary 0.896.

lm: the neural probabilistic language model (Bengio et al. 2003): the prediction for token t+1
sees the embeddings of tokens t-context+1..t concatenated (pad id 0 before the sequence start).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from jaxtext.models.layers import (
    FeedForward,
    check_positive,
    check_rate,
    last_index,
    masked_mean,
    take_rows,
)
from jaxtext.protocols import Dims
from jaxtext.registry import register_model

_HASH_PRIME = 1_000_003  # odd multiplier of the rolling n-gram hash (uint32 arithmetic wraps)


def shift_right(x: jax.Array, k: int, fill: int = 0) -> jax.Array:
    """``out[:, t] = x[:, t - k]``, ``fill`` for ``t < k`` (x: [B, T, ...])."""
    if k == 0:
        return x
    pad = [(0, 0), (k, 0)] + [(0, 0)] * (x.ndim - 2)
    return jnp.pad(x[:, : x.shape[1] - k], pad, constant_values=fill)


def shift_left(x: jax.Array, k: int, fill: int = 0) -> jax.Array:
    """``out[:, t] = x[:, t + k]``, ``fill`` past the end (x: [B, T, ...])."""
    if k == 0:
        return x
    pad = [(0, 0), (0, k)] + [(0, 0)] * (x.ndim - 2)
    return jnp.pad(x[:, k:], pad, constant_values=fill)


def hashed_ngrams(tokens: jax.Array, mask: jax.Array, n: int, buckets: int, offset: int):
    """Ids of every 2..n-gram: ``int32[B, T * (n - 1)]`` in ``[offset, offset + buckets)``.

    The k-gram starting at t is hashed as ``((a * P + b) * P + c ...) mod 2**32 mod buckets``;
    it is valid only when all its k tokens are real, so padding never contributes.
    Returns ``(ids, valid)``.

    >>> tokens = jnp.array([[5, 7, 0]])
    >>> ids, valid = hashed_ngrams(tokens, tokens > 0, n=2, buckets=10, offset=100)
    >>> ids.shape, valid.tolist()
    ((1, 3), [[True, False, False]])
    """
    h = tokens.astype(jnp.uint32)
    valid = mask
    ids, valids = [], []
    for k in range(1, n):  # a loop over n-gram orders (static, small), not over time
        h = h * jnp.uint32(_HASH_PRIME) + shift_left(tokens, k).astype(jnp.uint32)
        valid = valid & shift_left(mask, k, fill=False)
        ids.append((h % jnp.uint32(buckets)).astype(jnp.int32) + offset)
        valids.append(valid)
    return jnp.concatenate(ids, axis=1), jnp.concatenate(valids, axis=1)


def context_windows(tokens: jax.Array, context: int) -> jax.Array:
    """``int32[B, T]`` -> ``int32[B, T, context]``: row t holds tokens t-context+1..t.

    Positions before the sequence start hold the pad id 0.
    """
    return jnp.stack([shift_right(tokens, j) for j in range(context - 1, -1, -1)], axis=-1)


@register_model("mlp")
class MLP(nnx.Module):
    """Bag of (n-gram) embeddings + MLP (classify); n-gram window MLP language model (lm).

    tokens: int32[B, T], mask: bool[B, T] -> float32[B, num_outputs] (classify) or
    float32[B, T, num_outputs] (lm, next-token logits at every position).
    """

    @dataclass(frozen=True)
    class Config:
        dim: int = 16  # embedding size of tokens (and hashed n-grams)
        ngrams: int = 1  # classify: longest word n-gram in the bag (1 = words, 2 = + bigrams)
        ngram_buckets: int = 100_000  # classify: hash buckets shared by the n-grams (n >= 2)
        ngram_scale: float = 0.1  # classify: n-gram rows enter the bag times this (smaller steps)
        context: int = 4  # lm: tokens each next-token prediction sees (the current one included)
        hidden: int = 256  # width of each hidden layer
        layers: int = 0  # hidden layers after the bag / window (0 = linear on the bag)
        dropout: float = 0.0  # dropout on the bag / window and after each hidden layer

        def __post_init__(self):
            check_positive(dim=self.dim, ngrams=self.ngrams, ngram_buckets=self.ngram_buckets,
                           context=self.context, hidden=self.hidden)
            if not 0 < self.ngram_scale < float("inf"):  # also refuses nan
                raise ValueError(f"ngram_scale must be a positive finite number, got "
                                 f"{self.ngram_scale}")
            if self.layers < 0:
                raise ValueError(f"layers must not be negative, got {self.layers}")
            check_rate(self.dropout)

    @staticmethod
    def training_defaults(task: str) -> dict:
        """Core settings this model wants unless the user sets them (see jaxtext.config)."""
        if task != "lm":  # per-text tasks: a bag learns fast, overfits by epoch 3, likes long texts
            return {"lr": 2e-2, "max_len": 1024, "epochs": 2}
        # the classify sizes (16-dim, no hidden layer) would make a log-linear lm
        return {"dim": 64, "layers": 1}

    @staticmethod
    def presets(task: str) -> dict:
        """Named settings (``preset: NAME``; see jaxtext.model_presets)."""
        if task != "classify":
            return {}
        # bigrams a third as loud as words, a third epoch: see the module docstring
        return {"accurate": {"ngrams": 2, "ngram_scale": 0.3, "epochs": 3}}

    def __init__(self, config: Config, dims: Dims, *, rngs: nnx.Rngs):
        self.config = config
        self.task = dims.task
        self.vocab_size = dims.vocab_size
        lm = dims.task == "lm"
        rows = dims.vocab_size + (0 if lm or config.ngrams == 1 else config.ngram_buckets)
        features = config.dim * (config.context if lm else 1)
        self.embed = nnx.Embed(rows, config.dim, rngs=rngs)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.head = FeedForward(features, config.hidden, config.layers, dims.num_outputs,
                                config.dropout, rngs=rngs)

    def __call__(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
        if self.task == "lm":
            return self._window_logits(context_windows(tokens, self.config.context))
        vectors, valid = self.embed(tokens), mask
        if self.config.ngrams > 1:
            grams, gram_valid = hashed_ngrams(tokens, mask, self.config.ngrams,
                                              self.config.ngram_buckets, self.vocab_size)
            scaled = self.config.ngram_scale * self.embed(grams)
            vectors = jnp.concatenate([vectors, scaled], axis=1)
            valid = jnp.concatenate([mask, gram_valid], axis=1)
        bag = masked_mean(vectors, valid)  # [B, dim]
        return self.head(self.dropout(bag))

    def _window_logits(self, windows: jax.Array) -> jax.Array:
        """``int32[..., context]`` -> next-token logits ``float32[..., V]``."""
        e = self.embed(windows)
        return self.head(self.dropout(e.reshape(e.shape[:-2] + (-1,))))

    # -- cached decoding (lm); see jaxtext.protocols.Decoder ------------------------------
    max_decode_len = None  # the window slides: generation has no length limit

    def init_cache(self, batch_size: int, max_len: int) -> jax.Array:
        """The window of the last ``context`` tokens, ``int32[B, context]``, all padding."""
        del max_len  # the window never grows
        return jnp.zeros((batch_size, self.config.context), jnp.int32)

    def decode_step(self, token: jax.Array, cache: jax.Array, position: jax.Array):
        """Feed ``token: int32[B]``; return (next-token logits float32[B, V], new window)."""
        del position  # the window alone decides the prediction
        window = jnp.concatenate([cache[:, 1:], token[:, None].astype(jnp.int32)], axis=1)
        return self._window_logits(window), window

    def prefill(self, tokens: jax.Array, mask: jax.Array):
        """Right-padded prompts -> (logits after each row's last real token [B, V], cache)."""
        window = take_rows(context_windows(tokens, self.config.context), last_index(mask))
        window = jnp.where(mask.any(axis=1, keepdims=True), window, 0)
        return self._window_logits(window), window
