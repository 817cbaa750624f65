"""``transformer``: a pre-LayerNorm Transformer encoder (classify) or decoder-only LM (lm).

Same blocks for both tasks; the lm adds a causal mask and predicts the next token at every
position (output projection optionally tied to the token embedding). Attention is written out
rather than ``nnx.MultiHeadAttention``: cached decoding here is a pure function of an explicit
key/value cache (not of state stored inside the module), and the blocked attention below is
twice as fast on CPU as materializing all scores at once.

Defaults (dim 64, 1 layer, 2 heads) are sized for 2 CPU cores: each head adds a [B, T, T] score
tensor per layer, which dominates the step (batch 64, 256 tokens, on busy cores: 2 layers x 4
heads 1.25 s per step, 1 layer x 2 heads 0.53 s), and one layer already reaches 0.88 test
accuracy on IMDB in two epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from jaxtext.models.layers import check_positive, check_rate, last_index, masked_mean, take_rows
from jaxtext.protocols import Dims
from jaxtext.registry import register_model

# Masked scores get this instead of -inf: a row with no visible key (an all-padding row)
# then softmaxes to a uniform average instead of NaN.
_MASKED = -1e9


def _scores(q, k, mask):
    """float32 scores whatever the inputs' dtype: softmax statistics stay float32 in bf16."""
    s = jnp.einsum("bhtd,bhsd->bhts", q * q.shape[-1] ** -0.5, k,
                   preferred_element_type=jnp.float32)
    return jnp.where(mask, s, _MASKED)


def _matmul(spec: str, a, b, dtype):
    """``einsum`` of ``a`` cast to ``b``'s dtype, accumulated in float32, returned as ``dtype``."""
    return jnp.einsum(spec, a.astype(b.dtype), b, preferred_element_type=jnp.float32).astype(dtype)


def _attend_block(q, k, v, mask):
    """Softmax attention of one block of rows -> (output, (row max, row sum of exp)).

    The max and the sum are kept apart, not as one log-sum-exp: for a row with no visible key
    the max is -1e9, and -1e9 + log(S) rounds back to -1e9 in float32.
    """
    s = _scores(q, k, mask)
    top = s.max(axis=-1, keepdims=True)
    e = jnp.exp(s - top)
    total = e.sum(axis=-1, keepdims=True)
    # normalizing the [.., T, Dh] output, not the [.., T, S] weights, saves a pass over scores
    out = _matmul("bhts,bhsd->bhtd", e, v, jnp.float32) / total
    return out.astype(q.dtype), (top, total)


def _attend_block_grad(q, k, v, mask, out, top, total, d_out):
    """Gradients of one block, recomputing its attention weights from the saved row stats."""
    scale = q.shape[-1] ** -0.5
    p = jnp.exp(_scores(q, k, mask) - top) / total
    d_v = _matmul("bhts,bhtd->bhsd", p, d_out, v.dtype)
    d_p = _matmul("bhtd,bhsd->bhts", d_out, v, jnp.float32)
    row = (d_out.astype(jnp.float32) * out.astype(jnp.float32)).sum(axis=-1, keepdims=True)
    d_s = jnp.where(mask, p * (d_p - row), 0.0)
    d_q = (_matmul("bhts,bhsd->bhtd", d_s, k, jnp.float32) * scale).astype(q.dtype)
    d_k = (_matmul("bhts,bhtd->bhsd", d_s, q, jnp.float32) * scale).astype(k.dtype)
    return d_q, d_k, d_v


def _map_blocks(fn, *arrays):
    """``fn`` over blocks of a few batch rows, so each block's [rows, H, T, S] scores stay in
    cache; on this CPU one pass over all the scores at once is memory-bound (PERF.md)."""
    b = arrays[0].shape[0]
    rows = next(r for r in (4, 2, 1) if b % r == 0)
    blocks = tuple(a.reshape((b // rows, rows) + a.shape[1:]) for a in arrays)
    out = jax.lax.map(lambda xs: fn(*xs), blocks)
    return jax.tree.map(lambda y: y.reshape((b,) + y.shape[2:]), out)


@jax.custom_vjp
def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Scaled dot-product attention.

    q: float[B, H, T, Dh]; k, v: float[B, H, S, Dh]; mask: bool[B or 1, 1, T or 1, S]
    (True = may attend) -> float[B, H, T, Dh].

    Computed in blocks of batch rows, and the backward pass recomputes each block's weights
    instead of keeping the whole [B, H, T, S] tensor (flash-attention style, at the
    granularity XLA on CPU handles well). Measured at B=64, H=4, T=256, Dh=16 on 2 cores:
    forward + backward ~290 ms against ~550 ms for the plain einsum-softmax-einsum.
    """
    return _map_blocks(_attend_block, q, k, v, _full_batch(mask, q))[0]


def library_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, *,
                      implementation: str | None = None) -> jax.Array:
    """``attention`` by ``jax.nn.dot_product_attention`` (same shapes and mask convention).

    On a GPU ``implementation=None`` lets JAX pick cuDNN's fused kernel where the shapes and
    dtype allow it, and XLA's otherwise; measured on an H200 it is 1.8-3.1x faster than the
    blocked kernel, whose ``lax.map`` serializes the blocks there (PERF.md).
    """
    out = jax.nn.dot_product_attention(q.swapaxes(1, 2), k.swapaxes(1, 2), v.swapaxes(1, 2),
                                       mask=mask, implementation=implementation)
    return out.swapaxes(1, 2)


ATTENTION = ("auto", "blocked", "xla", "cudnn")


def resolve_attention(kind: str, platform: str | None = None) -> str:
    """The ``attention`` key on ``platform`` -> "blocked", "library" (JAX picks cuDNN or XLA),
    "xla" or "cudnn". "auto" is the blocked kernel on a CPU (blocks sized for its caches) and
    ``jax.nn.dot_product_attention`` on a GPU or TPU.

    >>> resolve_attention("auto", "cpu"), resolve_attention("auto", "gpu")
    ('blocked', 'library')
    """
    if kind != "auto":
        return kind
    return "blocked" if (platform or jax.default_backend()) == "cpu" else "library"


def attend(kind: str, q, k, v, mask):
    """Attention by the resolved kind (see ``resolve_attention``)."""
    if kind == "blocked":
        return attention(q, k, v, mask)
    return library_attention(q, k, v, mask, implementation=None if kind == "library" else kind)


def _full_batch(mask, q):
    return jnp.broadcast_to(mask, (q.shape[0],) + mask.shape[1:])


def _attention_fwd(q, k, v, mask):
    mask = _full_batch(mask, q)
    out, (top, total) = _map_blocks(_attend_block, q, k, v, mask)
    return out, (q, k, v, mask, out, top, total)


def _attention_bwd(residuals, d_out):
    d_q, d_k, d_v = _map_blocks(_attend_block_grad, *residuals, d_out)
    return d_q, d_k, d_v, None


attention.defvjp(_attention_fwd, _attention_bwd)


def write_position(cache: jax.Array, layer: int, new: jax.Array, position: jax.Array) -> jax.Array:
    """``cache[layer, b, :, position[b]] = new[b]``; cache: [L, B, H, S, Dh], new: [B, H, Dh]."""
    def write_row(row, value, p):
        return jax.lax.dynamic_update_slice(row, value[:, None, :], (0, p, 0))

    return cache.at[layer].set(jax.vmap(write_row)(cache[layer], new, position))


class Block(nnx.Module):
    """x + Attention(LN(x)), then x + MLP(LN(x)); dropout on both residual branches."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, *, rngs: nnx.Rngs,
                 attention: str = "blocked"):
        self.heads = heads
        self.attention = attention  # a resolved kind, see resolve_attention
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.proj = nnx.Linear(dim, dim, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.fc1 = nnx.Linear(dim, int(dim * mlp_ratio), rngs=rngs)
        self.fc2 = nnx.Linear(int(dim * mlp_ratio), dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def project(self, x: jax.Array):
        """``float[B, T, D]`` -> q, k, v, each ``float[B, H, T, D // H]``."""
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads)
        q, k, v = jnp.moveaxis(qkv, (2, 3), (0, 2))  # [3, B, H, T, Dh]
        return q, k, v

    def finish(self, x: jax.Array, attended: jax.Array) -> jax.Array:
        """Residual add of the attention output ``float[B, H, T, Dh]``, then the MLP."""
        b, t, d = x.shape
        x = x + self.dropout(self.proj(jnp.moveaxis(attended, 1, 2).reshape(b, t, d)))
        return x + self.dropout(self.fc2(jax.nn.gelu(self.fc1(self.norm2(x)))))

    def __call__(self, x: jax.Array, mask: jax.Array):
        """-> (new x ``float[B, T, D]``, (k, v) for a decoding cache)."""
        q, k, v = self.project(x)
        return self.finish(x, attend(self.attention, q, k, v, mask)), (k, v)


@register_model("transformer")
class Transformer(nnx.Module):
    """Pre-LN Transformer with learned positions.

    tokens: int32[B, T] (T <= dims.max_len), mask: bool[B, T] -> float32[B, num_outputs]
    (classify: mean of the valid outputs or the CLS output) or float32[B, T, num_outputs]
    (lm: causal, next-token logits at every position).
    """

    @dataclass(frozen=True)
    class Config:
        dim: int = 64  # width of the token vectors (embedding and every block)
        heads: int = 2  # attention heads (must divide dim)
        layers: int = 1  # Transformer blocks
        mlp_ratio: float = 2.0  # MLP hidden width = mlp_ratio * dim
        dropout: float = 0.1  # dropout on embeddings, residual branches and the pooled vector
        pooling: str = "mean"  # classify: "mean" over valid tokens or "cls" (learned CLS token)
        tie_weights: bool = True  # lm: output projection = token embedding transposed
        attention: str = "auto"  # "blocked" (CPU), "xla" or "cudnn" (jax.nn); auto: by device

        def __post_init__(self):
            check_positive(dim=self.dim, heads=self.heads, layers=self.layers)
            check_rate(self.dropout)
            if self.dim % self.heads:
                raise ValueError(f"heads ({self.heads}) must divide dim ({self.dim})")
            if self.attention not in ATTENTION:
                raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, not "
                                 f"'{self.attention}'")
            if self.pooling not in ("mean", "cls"):
                raise ValueError(f"pooling must be 'mean' or 'cls', not '{self.pooling}'")
            if not 0 < self.mlp_ratio < float("inf"):  # also refuses nan
                raise ValueError(f"mlp_ratio must be a positive finite number, got "
                                 f"{self.mlp_ratio}")

    @staticmethod
    def training_defaults(task: str) -> dict:
        """Core settings this model wants unless the user sets them (see jaxtext.config)."""
        # IMDB validation accuracy is 0.879 after one epoch and 0.880 after two: a third
        # epoch would only add time.
        return {"epochs": 2} if task != "lm" else {}

    @staticmethod
    def presets(task: str) -> dict:
        """Named settings (``preset: NAME``; see jaxtext.model_presets)."""
        if task == "classify":
            # IMDB (benchmarks/results/tune_classify.md): head and tail of each review, two
            # cosine epochs, more dropout (it overfits by the second epoch), the best epoch's
            # weights: test accuracy 0.895 / 0.890 / 0.886 on three seeds (0.866 defaults).
            return {"accurate": {"truncate": "head_tail", "max_len": 512, "epochs": 2,
                                 "dropout": 0.2, "early_stopping": 1}}
        if task != "lm":
            return {}
        # IMDB characters, 2 CPU cores: the 2 x 4 x 64 model of benchmarks/bench_lm.py made
        # 2.23 bits/char in one epoch (370 s); a third block uses the rest of 10 minutes. A
        # 128-wide model learned no more per character and ran 2.7x slower (2.57 bits/char
        # after 3.5 M characters at lr 5e-3; 2.85 at lr 1e-2, which stalled near 3.6).
        # Measured on busy cores (load 6-8): 2.15 bits/char after 10,172 steps, short of 2.0.
        # Quiet cores, ~600 s of training each: 2 x 96 wide, limit 18,000: 2.121 (11,436
        # steps); the same with max_len 128, batch 16, limit 16,000: 2.112 (10,172 steps). The
        # step is compute-bound (batch 128: the same 42k chars/s) and bf16 is no faster here, so
        # 10 minutes on 2 cores buy ~25 M characters, and these models stop near 2.1.
        return {"accurate": {"layers": 3, "heads": 4, "max_len": 64, "batch_size": 32,
                             "lr": 1e-2, "epochs": 1, "warmup": 0.02, "dropout": 0.0,
                             "limit": 16000}}

    def __init__(self, config: Config, dims: Dims, *, rngs: nnx.Rngs):
        self.config = config
        self.lm = dims.task == "lm"
        self.max_len = dims.max_len
        self.use_cls = not self.lm and config.pooling == "cls"
        d = config.dim
        self.embed = nnx.Embed(dims.vocab_size, d, rngs=rngs)
        init = nnx.initializers.normal(0.02)
        self.pos = nnx.Param(init(rngs.params(), (dims.max_len + self.use_cls, d)))
        self.cls = nnx.Param(init(rngs.params(), (d,))) if self.use_cls else None
        self.blocks = nnx.List([
            Block(d, config.heads, config.mlp_ratio, config.dropout, rngs=rngs,
                  attention=resolve_attention(config.attention))
            for _ in range(config.layers)
        ])
        self.norm = nnx.LayerNorm(d, rngs=rngs)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        tied = self.lm and config.tie_weights
        self.head = None if tied else nnx.Linear(d, dims.num_outputs, rngs=rngs)

    def __call__(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
        h, _ = self._encode(tokens, mask)
        if self.lm:
            return self._logits(h)
        pooled = h[:, 0] if self.use_cls else masked_mean(h, mask)
        return self.head(self.dropout(pooled))

    def _encode(self, tokens: jax.Array, mask: jax.Array):
        """-> (final-LN outputs float[B, T, D] (T + 1 with CLS), per-block (k, v))."""
        if tokens.shape[1] + self.use_cls > self.pos.shape[0]:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than "
                             f"max_len={self.max_len} this model was built for")
        x = self.embed(tokens)
        if self.use_cls:
            cls = jnp.broadcast_to(self.cls[...], (x.shape[0], 1, x.shape[2]))
            x = jnp.concatenate([cls, x], axis=1)
            mask = jnp.concatenate([jnp.ones_like(mask[:, :1]), mask], axis=1)
        t = x.shape[1]
        x = self.dropout(x + self.pos[:t])
        attn_mask = mask[:, None, None, :]  # [B, 1, 1, S]: never attend to padding
        if self.lm:
            attn_mask = attn_mask & jnp.tril(jnp.ones((t, t), bool))
        kvs = []
        for block in self.blocks:
            x, kv = block(x, attn_mask)
            kvs.append(kv)
        return self.norm(x), kvs

    def _logits(self, h: jax.Array) -> jax.Array:
        return self.embed.attend(h) if self.head is None else self.head(h)

    # -- cached decoding (lm); see jaxtext.protocols.Decoder ------------------------------
    def init_cache(self, batch_size: int, max_len: int) -> dict:
        """Keys and values of every block: ``{"k", "v"}``, float32[layers, B, heads, len, Dh]."""
        if max_len > self.max_len:
            raise ValueError(f"cache of {max_len} positions exceeds max_len={self.max_len}")
        c = self.config
        shape = (c.layers, batch_size, c.heads, max_len, c.dim // c.heads)
        return {"k": jnp.zeros(shape), "v": jnp.zeros(shape)}

    def decode_step(self, token: jax.Array, cache: dict, position: jax.Array):
        """Feed ``token: int32[B]`` at ``position`` (int32 scalar or [B]).

        Returns (next-token logits float32[B, V], cache with this token's keys/values written).
        """
        b, s = token.shape[0], cache["k"].shape[3]
        pos = jnp.broadcast_to(jnp.asarray(position, jnp.int32), (b,))
        x = (self.embed(token) + self.pos[...][pos])[:, None]  # [B, 1, D]
        x = self.dropout(x)
        visible = (jnp.arange(s)[None, :] <= pos[:, None])[:, None, None, :]  # [B, 1, 1, S]
        k_cache, v_cache = cache["k"], cache["v"]
        for i, block in enumerate(self.blocks):
            q, k, v = block.project(x)  # [B, H, 1, Dh]
            k_cache = write_position(k_cache, i, k[:, :, 0], pos)
            v_cache = write_position(v_cache, i, v[:, :, 0], pos)
            x = block.finish(x, attend(block.attention, q, k_cache[i], v_cache[i], visible))
        return self._logits(self.norm(x))[:, 0], {"k": k_cache, "v": v_cache}

    def prefill(self, tokens: jax.Array, mask: jax.Array, max_len: int | None = None):
        """Right-padded prompts ``int32[B, T]`` -> (logits after each row's last real token
        float32[B, V], cache of ``max_len`` (default dims.max_len) positions).

        One full forward pass. Decoding continues at ``position = mask.sum(-1)`` per row;
        the keys/values written at padded positions are overwritten before they become visible.
        """
        b, t = tokens.shape
        h, kvs = self._encode(tokens, mask)
        logits = self._logits(take_rows(h, last_index(mask)))
        cache = self.init_cache(b, max_len or self.max_len)
        k = jnp.stack([kv[0] for kv in kvs])  # [L, B, H, T, Dh]
        v = jnp.stack([kv[1] for kv in kvs])
        cache = {"k": cache["k"].at[:, :, :, :t].set(k), "v": cache["v"].at[:, :, :, :t].set(v)}
        return logits, cache
