"""Sampling from a language-model run with a compiled decode loop.

One ``lax.scan`` runs ``chunk_size`` (default ``CHUNK``) decode steps per dispatch over the model's cache
(key/value cache for the transformer, carried state for the LSTM, a token window for
the MLP). The prompt is fed through the same scan with its tokens forced, so prefill and
sampling share one compiled function. ``stream`` gets the text after every chunk, which
lets a caller show tokens as they come at a cost of one host round trip per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxtext import events as ev
from jaxtext.errors import ConfigError
from jaxtext.generate_options import check_generate_options
from jaxtext.protocols import require_decoder
from jaxtext.training.memory import check_decode_memory
from jaxtext.training.state import ModelState

CHUNK = 64
_COMPILED: dict = {}


def filter_logits(logits: jax.Array, temperature, top_k, top_p) -> jax.Array:
    """Temperature, then top-k, then nucleus (top-p) filtering. logits: float[B, V].

    top_k <= 0 and top_p >= 1 disable those filters; tokens outside are set to -inf.
    """
    vocab = logits.shape[-1]
    scaled = logits / jnp.maximum(temperature, 1e-6)
    ordered = -jnp.sort(-scaled, axis=-1)  # descending
    k = jnp.where(top_k > 0, jnp.minimum(top_k, vocab), vocab)
    kth = jnp.take_along_axis(ordered, jnp.broadcast_to(k - 1, ordered.shape[:-1])[..., None], -1)
    ordered = jnp.where(ordered < kth, -jnp.inf, ordered)
    probs = jax.nn.softmax(ordered, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass of strictly more likely tokens
    keep = (before < top_p) | (jnp.arange(vocab) == 0)
    threshold = jnp.min(jnp.where(keep, ordered, jnp.inf), axis=-1, keepdims=True)
    return jnp.where(scaled < jnp.maximum(threshold, kth), -jnp.inf, scaled)


def sample_next(key, logits, temperature, top_k, top_p) -> jax.Array:
    """int32[B]: greedy when temperature == 0, else a draw from the filtered distribution."""
    greedy = jnp.argmax(logits, axis=-1)
    drawn = jax.random.categorical(key, filter_logits(logits, temperature, top_k, top_p), axis=-1)
    return jnp.where(temperature > 0, drawn, greedy).astype(jnp.int32)


def _decode_chunk_fn(graph, batch: int):
    """Jitted: run len(forced) decode steps; forced[t] >= 0 feeds a prompt token instead of sampling."""
    key_ = (graph, batch)
    if key_ in _COMPILED:
        return _COMPILED[key_]

    @partial(jax.jit, donate_argnums=(2,))
    def decode_chunk(params, rest, cache, token, position, forced, key, temperature, top_k, top_p):
        return decode_steps(nnx.merge(graph, params, rest), cache, token, position, forced, key,
                            temperature, top_k, top_p)

    _COMPILED[key_] = decode_chunk
    return decode_chunk


def decode_steps(model, cache, token, position, forced, key, temperature, top_k, top_p):
    """``len(forced)`` decode steps of a Decoder model (pure; ``Run.export`` exports it too).

    Returns (cache, last token, position, key, tokens int32[B, steps], probs float32[B, steps]).
    """
    def step(carry, forced_t):
        cache, token, position, key = carry
        logits, cache = model.decode_step(token, cache, position)
        logits = logits.astype(jnp.float32)
        key, sub = jax.random.split(key)
        sampled = sample_next(sub, logits, temperature, top_k, top_p)
        nxt = jnp.where(forced_t >= 0, forced_t, sampled)
        prob = jnp.take_along_axis(jax.nn.softmax(logits, -1), nxt[:, None], -1)[:, 0]
        return (cache, nxt, position + 1, key), (nxt, prob)

    (cache, token, position, key), (tokens, probs) = jax.lax.scan(
        step, (cache, token, position, key), forced)
    return cache, token, position, key, tokens.T, probs.T


def generate(model: ModelState, tokenizer, prompt: str = "", *, max_len: int,
             max_new_tokens: int = 200, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, num_samples: int = 1, seed: int = 0,
             return_probs: bool = False, stream: Callable[[list[str]], None] | None = None,
             chunk_size: int = CHUNK, name: str = "this model"):
    """Continue ``prompt`` ``num_samples`` times with a language model; returns the strings.

    ``max_len``: the longest sequence the model was built for (``Dims.max_len``), the decoding
    limit of models that do not declare ``max_decode_len = None``.

    temperature=0 is greedy; top_k / top_p restrict sampling to the k most likely tokens /
    the smallest set holding probability top_p. With ``return_probs`` also returns, per
    sample, a list of (token_text, probability) for the generated tokens. ``stream`` is
    called with the texts so far after every ``chunk_size`` decoded tokens (one dispatch).
    """
    top_k = check_generate_options(prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, num_samples=num_samples, seed=seed)
    tok = tokenizer
    start_id = document_start_id(tok)
    prompt_ids = [start_id, *tok.encode([prompt], None)[0].tolist()] if prompt else [start_id]
    module = model.module()
    require_decoder(name, module)
    # Models may declare how far they can decode (None = unbounded, e.g. an LSTM's state).
    limit = getattr(module, "max_decode_len", max_len)
    total = len(prompt_ids) - 1 + max_new_tokens
    if limit is not None and total > limit:
        keep = limit - max_new_tokens
        if keep < 1:
            raise ConfigError(f"max_new_tokens={max_new_tokens} exceeds what this model can "
                              f"decode ({limit} positions); ask for fewer tokens")
        prompt_ids = [start_id, *prompt_ids[1:][-(keep - 1):]] if keep > 1 else [start_id]
        total = len(prompt_ids) - 1 + max_new_tokens
    steps = int(np.ceil(total / chunk_size)) * chunk_size
    # One compiled decoder serves every call: the batch is padded to a power of two (>= 2, the
    # samples shown while training) and a bounded cache always has all ``limit`` positions, so
    # the first generate() after training reuses what the epoch-end samples compiled. Decode
    # steps past ``total`` (whole chunks) are discarded; a bounded cache clamps their writes
    # to its last slot, which no kept token reads.
    rows = max(2, 1 << (num_samples - 1).bit_length())
    check_decode_memory(max_new_tokens=max_new_tokens, num_samples=num_samples,
                        slots=steps * rows)
    cache = module.init_cache(rows, limit if limit else steps + 1)
    decode_chunk = _decode_chunk_fn(model.eval_graph, rows)
    params, rest = model.params, model.rest

    forced = np.full((steps, rows), -1, np.int32)
    forced[: len(prompt_ids) - 1] = np.asarray(prompt_ids[1:], np.int32)[:, None]
    token = jnp.full((rows,), prompt_ids[0], jnp.int32)
    position = jnp.zeros((), jnp.int32)
    key = jax.random.key(seed)
    args = (jnp.float32(temperature), jnp.int32(top_k), jnp.float32(top_p))
    start = len(prompt_ids) - 1  # index of the first generated token in the outputs
    tokens, probs = [], []
    for c in range(0, steps, chunk_size):
        cache, token, position, key, chunk_tokens, chunk_probs = decode_chunk(
            params, rest, cache, token, position, jnp.asarray(forced[c:c + chunk_size]), key,
            *args)
        tokens.append(chunk_tokens)
        probs.append(chunk_probs)
        if stream is not None:
            ids = np.concatenate(jax.device_get(tokens), axis=1)[:num_samples,
                                                                  start:start + max_new_tokens]
            stream([_decode(tok, row) for row in ids])
    ids = np.concatenate(jax.device_get(tokens), axis=1)[:num_samples,
                                                          start:start + max_new_tokens]
    p = np.concatenate(jax.device_get(probs), axis=1)[:num_samples, start:start + max_new_tokens]
    texts = [_decode(tok, row) for row in ids]
    if not return_probs:
        return texts
    pieces = [[(tok.decode([int(i)]), float(q)) for i, q in zip(_until_eos(tok, row), prow,
                                                               strict=False)]
              for row, prow in zip(ids, p, strict=True)]
    return texts, pieces


def document_start_id(tok) -> int:
    """Packed LM streams are ``<bos> doc <eos> <bos> doc ...``: a sample starts at bos."""
    return tok.bos_id


def _until_eos(tok, row: np.ndarray) -> np.ndarray:
    stops = np.nonzero(row == tok.eos_id)[0]
    return row[: stops[0]] if len(stops) else row


def _decode(tok, row: np.ndarray) -> str:
    return tok.decode(_until_eos(tok, row).tolist())


def timed_generate(model: ModelState, tokenizer, prompt: str = "",
                   **kwargs) -> tuple[list[str], float]:
    """generate() plus steady-state tokens/s (a warm-up call compiles first)."""
    generate(model, tokenizer, prompt,
             **{**kwargs, "max_new_tokens": min(kwargs.get("max_new_tokens", 8), 8)})
    t0 = time.perf_counter()
    samples = generate(model, tokenizer, prompt, **kwargs)
    seconds = time.perf_counter() - t0
    n = kwargs.get("max_new_tokens", 200) * kwargs.get("num_samples", 1)
    return samples, n / max(seconds, 1e-9)


def epoch_samples(model: ModelState, tokenizer, config, *, prompt: str, max_len: int,
                  epoch: int, step: int, num_samples: int = 2) -> ev.Samples | None:
    """The Samples event the trainer emits while an LM trains (fixed prompt and seed)."""
    cfg = config
    if cfg.sample_tokens == 0:
        return None
    texts, pieces = generate(model, tokenizer, prompt,
                             max_len=max_len, max_new_tokens=min(cfg.sample_tokens, max_len - 1),
                             temperature=0.8, top_k=0, top_p=0.95, num_samples=num_samples,
                             seed=cfg.seed, return_probs=True, name=cfg.model)
    return ev.Samples(epoch=epoch, step=step, prompt=prompt, samples=texts, token_probs=pieces)
