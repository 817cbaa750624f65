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

The bag above levels off at ~0.90 on IMDB whatever the optimizer (the earlier ``accurate``
preset, bigrams at ``ngram_scale`` 0.3 for 3 epochs: 0.898; tried and dropped, full 5k test
split unless noted: a 100k vocabulary 0.900; dim 64 0.895; bigrams at batch 256, lr 5e-2 0.896,
with 1M buckets 0.895; weight decay 0.1 / 0.3 0.897 / 0.890; SGD with momentum, lr 1-20, up
to 10 epochs: at most 0.875; Adam eps 1e-5 / 1e-4: 0.882 / 0.868; SGD, Adagrad or Adam with
its own eps on the table alone: 0.807-0.896; max_len 2048 0.896; trigrams at scale 0.2
0.901). Adam moves the row of an n-gram seen once as far as the row of a frequent word, so
rare n-grams weigh in like frequent ones, and the bag memorizes.

``bag: nb`` gives the rows a prior from counts instead: NBSVM (Wang & Manning 2012) as a
network, after fastai's "NBSVM++". Each row f carries fixed naive Bayes log-count ratios r[f]
per class, counted from the training split by ``adapt`` (``jaxtext.models.naive_bayes``), and
one learned weight w[f]; a text's logits are ``sum (w[f] + 0.2) r[f] / (0.4 sqrt(rows))`` over
its words and n-grams, plus a bias. It starts as naive Bayes (IMDB 0.88) and learns where
the counts mislead. The ``accurate`` preset (trigrams in 8M buckets, n-grams at half weight,
a 100k vocabulary, max_len 4096, 2 epochs), measured on 2 cores: IMDB 0.913-0.916 in ~20 s
(seeds 0, 1; damping 0.3-0.6), Rotten Tomatoes 0.774-0.780 (seeds 0-2). What decided it
(IMDB, first in a prototype with a fixed divisor): hash collisions (trigrams in 1M buckets
0.891, 4M 0.907, 8M 0.913; bigrams only, 8M: 0.908); counting every occurrence, not each
n-gram once per text (0.915 vs 0.913 at 16M); and the divisor
growing with the text's length (a fixed 10 gave IMDB 0.914 but Rotten Tomatoes 0.760, a
fixed 3 the reverse). The ratios are one float per row and class beside the weights: 8M
rows x 2 classes = 64 MB, saved with the run.

lm: the neural probabilistic language model (Bengio et al. 2003): the prediction for token t+1
sees the embeddings of tokens t-context+1..t concatenated (pad id 0 before the sequence start).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial

import jax
import jax.numpy as jnp
from flax import nnx

from jaxtext.errors import ConfigError
from jaxtext.models.layers import (
    FeedForward,
    check_positive,
    check_rate,
    last_index,
    masked_mean,
    take_rows,
)
from jaxtext.models.naive_bayes import LogCountRatios, count_rows, log_count_ratios
from jaxtext.protocols import Dims
from jaxtext.registry import register_model

_HASH_PRIME = 1_000_003  # odd multiplier of the rolling n-gram hash (uint32 arithmetic wraps)
BAGS = ("mean", "nb")
# bag: nb (NBSVM as a network, after fastai's "NBSVM++"): each occurrence of row f adds
# (w[f] + _NB_SHIFT) * r[f] to the evidence, w learned from U(-0.1, 0.1), so training starts
# from naive Bayes; the sum is divided by _NB_DAMPING * sqrt(rows looked up), which suits
# 20-word sentences and 700-row reviews alike (a fixed divisor had to be 3 for the one, 10
# for the other)
_NB_SHIFT = 0.2
_NB_DAMPING = 0.4


def shift_right(x: jax.Array, k: int, fill: int = 0) -> jax.Array:
    """``out[:, t] = x[:, t - k]``, ``fill`` for ``t < k`` (x: [B, T, ...])."""
    if k == 0:
        return x
    pad = [(0, 0), (k, 0)] + [(0, 0)] * (x.ndim - 2)
    return jax.lax.slice_in_dim(jnp.pad(x, pad, constant_values=fill), 0, x.shape[1], axis=1)


def shift_left(x: jax.Array, k: int, fill: int = 0) -> jax.Array:
    """``out[:, t] = x[:, t + k]``, ``fill`` past the end (x: [B, T, ...]).

    Pad, then slice exactly T: the shape stays ``T`` when T is symbolic (``jax.export``),
    where slicing first would give ``T - min(T, k) + k``.
    """
    if k == 0:
        return x
    pad = [(0, 0), (0, k)] + [(0, 0)] * (x.ndim - 2)
    return jax.lax.slice_in_dim(jnp.pad(x, pad, constant_values=fill), k, k + x.shape[1], axis=1)


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


def bag_rows(tokens: jax.Array, mask: jax.Array, ngrams: int, buckets: int, vocab_size: int):
    """The embedding rows a text's bag looks up: its tokens, then its hashed 2..n-grams.

    Returns ``(ids int32[B, L], valid bool[B, L])``, ``L = T * ngrams``.
    """
    if ngrams == 1:
        return tokens, mask
    grams, gram_valid = hashed_ngrams(tokens, mask, ngrams, buckets, vocab_size)
    return (jnp.concatenate([tokens, grams], axis=1),
            jnp.concatenate([mask, gram_valid], axis=1))


@cache
def rows_function(ngrams: int, buckets: int, vocab_size: int):
    """``bag_rows`` with static sizes, the same object for the same sizes (so a jitted
    function taking it as a static argument compiles once per shape, across models)."""
    return partial(bag_rows, ngrams=ngrams, buckets=buckets, vocab_size=vocab_size)


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
        bag: str = "mean"  # classify: mean of embeddings | nb: naive Bayes-weighted sum (NBSVM)
        ngrams: int = 1  # classify: longest word n-gram in the bag (1 = words, 2 = + bigrams)
        ngram_buckets: int = 100_000  # classify: hash buckets shared by the n-grams (n >= 2)
        ngram_scale: float = 0.1  # classify: n-gram rows enter the bag times this
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
            if self.bag not in BAGS:
                raise ValueError(f"bag must be one of {', '.join(BAGS)}, not '{self.bag}'")
            if self.bag == "nb" and self.layers:
                raise ValueError("bag 'nb' is a linear model on the naive Bayes evidence; "
                                 "set layers: 0 (or bag: mean for hidden layers)")
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
        # naive Bayes-weighted words, bigrams and trigrams: see the module docstring
        return {"accurate": {"bag": "nb", "ngrams": 3, "ngram_buckets": 8_000_000,
                             "ngram_scale": 0.5, "vocab_size": 100_000, "max_len": 4096,
                             "epochs": 2}}

    def __init__(self, config: Config, dims: Dims, *, rngs: nnx.Rngs):
        self.config = config
        self.task = dims.task
        self.vocab_size = dims.vocab_size
        lm = dims.task == "lm"
        rows = dims.vocab_size + (0 if lm or config.ngrams == 1 else config.ngram_buckets)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.nb = config.bag == "nb" and not lm
        if self.nb:
            if dims.task not in ("classify", "multilabel"):
                raise ConfigError(f"bag 'nb' weighs n-grams by how often each class uses them, "
                                  f"so it needs class labels (task classify or multilabel), "
                                  f"not task {dims.task}; use bag: mean")
            uniform = nnx.initializers.uniform(scale=0.2)
            self.embed = nnx.Embed(rows, 1, rngs=rngs,
                                   embedding_init=lambda *a: uniform(*a) - 0.1)
            self.ratios = LogCountRatios(jnp.zeros((rows, dims.num_outputs), jnp.float32))
            self.bias = nnx.Param(jnp.zeros((dims.num_outputs,), jnp.float32))
            return
        features = config.dim * (config.context if lm else 1)
        self.embed = nnx.Embed(rows, config.dim, rngs=rngs)
        self.head = FeedForward(features, config.hidden, config.layers, dims.num_outputs,
                                config.dropout, rngs=rngs)

    def __call__(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
        if self.task == "lm":
            return self._window_logits(context_windows(tokens, self.config.context))
        if self.nb:
            return self._nb_logits(tokens, mask)
        vectors, valid = self.embed(tokens), mask
        if self.config.ngrams > 1:
            grams, gram_valid = hashed_ngrams(tokens, mask, self.config.ngrams,
                                              self.config.ngram_buckets, self.vocab_size)
            scaled = self.config.ngram_scale * self.embed(grams)
            vectors = jnp.concatenate([vectors, scaled], axis=1)
            valid = jnp.concatenate([mask, gram_valid], axis=1)
        bag = masked_mean(vectors, valid)  # [B, dim]
        return self.head(self.dropout(bag))

    def _rows_of(self):
        return rows_function(self.config.ngrams, self.config.ngram_buckets, self.vocab_size)

    def _nb_logits(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
        """Every n-gram occurrence adds its class evidence, scaled by its learned weight."""
        ids, valid = self._rows_of()(tokens, mask)
        weight = self.dropout(self.embed(ids)[..., 0] + _NB_SHIFT) * valid  # [B, L]
        if self.config.ngrams > 1:  # n-grams weigh in ngram_scale times as much as words
            words = jnp.arange(ids.shape[1]) < tokens.shape[1]  # then the n-grams
            weight = weight * jnp.where(words, 1.0, self.config.ngram_scale)
        ratios = jnp.asarray(self.ratios[...])  # (a numpy constant in an export)
        evidence = jnp.einsum("bl,blc->bc", weight, ratios[ids])
        count = jnp.maximum(valid.sum(axis=1, keepdims=True), 1).astype(evidence.dtype)
        return evidence / (_NB_DAMPING * jnp.sqrt(count)) + self.bias[...]

    def adapt(self, batches) -> None:
        """``bag: nb``: count each row's occurrences per class over the training batches and
        keep their log-count ratios (see jaxtext.models.naive_bayes). Other bags: nothing."""
        if self.nb:
            counts = count_rows(self._rows_of(), self.ratios[...].shape, batches)
            self.ratios[...] = log_count_ratios(counts)

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
