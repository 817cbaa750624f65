"""PyTorch twins of jaxtext's classifiers, for the side-by-side speed comparison in
``bench_frameworks.py``.

What a PyTorch user would write for the same architecture at the same sizes (read from the
jaxtext run's ``Config``): token ids padded with 0 to ``max_len``, ``nn.LSTM`` (oneDNN on the
CPU), pre-LN encoder blocks on ``F.scaled_dot_product_attention`` (fused attention), the masked
pooling jaxtext uses, and jaxtext's optimizer (AdamW, global-norm clipping, linear warmup then
cosine decay), trained eagerly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """float[B, T, D], bool[B, T] -> float[B, D] (0 for a row with no valid step)."""
    w = mask.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


class Bag(nn.Module):
    """jaxtext's ``mlp`` (ngrams 1): token embeddings, masked mean, hidden layers, Linear."""

    def __init__(self, cfg, vocab_size: int, classes: int, max_len: int):
        super().__init__()
        if cfg.ngrams != 1:
            raise ValueError("the PyTorch twin implements ngrams = 1")
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        layers, width = [], cfg.dim
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = cfg.hidden
        self.hidden = nn.Sequential(nn.Dropout(cfg.dropout), *layers)
        self.out = nn.Linear(width, classes)

    def forward(self, ids):
        return self.out(self.hidden(masked_mean(self.embed(ids), ids != 0)))


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """float[B, T, D], bool[B, T] -> float[B, D] (0 for a row with no valid step)."""
    best = x.masked_fill(~mask.unsqueeze(-1), -1e9).amax(1)
    return torch.where(mask.any(1, keepdim=True), best, torch.zeros_like(best))


class LSTM(nn.Module):
    """jaxtext's ``lstm``: embedding, ``nn.LSTM`` layers, masked mean / max / mean_max pooling.

    Run over the padded rows, as most PyTorch code does: one direction never sees the padding
    at a valid step; the backward direction reads it first (the same compute as jaxtext's
    held carry, slightly different numbers), which does not change what the speed test times.
    """

    def __init__(self, cfg, vocab_size: int, classes: int, max_len: int):
        super().__init__()
        self.pooling = cfg.pooling
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        self.lstm = nn.LSTM(cfg.dim, cfg.hidden, cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
                            bidirectional=cfg.bidirectional)
        self.dropout = nn.Dropout(cfg.dropout)
        width = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.out = nn.Linear(width * (2 if cfg.pooling == "mean_max" else 1), classes)

    def forward(self, ids):
        mask = ids != 0
        hs, _ = self.lstm(self.dropout(self.embed(ids)))
        pools = {"mean": (masked_mean,), "max": (masked_max,),
                 "mean_max": (masked_mean, masked_max)}[self.pooling]
        return self.out(self.dropout(torch.cat([pool(hs, mask) for pool in pools], -1)))


class Block(nn.Module):
    """A pre-LN encoder block on ``F.scaled_dot_product_attention`` (PyTorch's fused CPU
    attention). Written out: ``nn.TransformerEncoderLayer`` with a padding mask measured 3x
    slower here (43 vs 122 examples/s at 2 blocks, dim 128, 4 heads, 256 tokens)."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.up, self.down = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads) \
            .permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None])
        x = x + self.dropout(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        h = nn.functional.gelu(self.up(self.norm2(x)), approximate="tanh")
        return x + self.dropout(self.down(h))


class Transformer(nn.Module):
    """jaxtext's ``transformer`` (classify, mean pooling): pre-LN encoder blocks."""

    def __init__(self, cfg, vocab_size: int, classes: int, max_len: int):
        super().__init__()
        if cfg.pooling != "mean":
            raise ValueError("the PyTorch twin implements pooling='mean'")
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        self.pos = nn.Parameter(torch.randn(max_len, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, int(cfg.dim * cfg.mlp_ratio), cfg.dropout)
            for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.dim, classes)

    def forward(self, ids):
        mask = ids != 0
        x = self.dropout(self.embed(ids) + self.pos[: ids.shape[1]])
        for block in self.blocks:
            x = block(x, mask)
        return self.out(self.dropout(masked_mean(self.norm(x), mask)))


BUILDERS = {"mlp": Bag, "lstm": LSTM, "transformer": Transformer}


class Trainer:
    """One eager training step at a time, with jaxtext's optimizer and schedule."""

    def __init__(self, model: str, config, vocab_size: int, classes: int, total_steps: int,
                 seed: int = 0, device: str = "cpu"):
        torch.manual_seed(seed)
        self.device = device
        self.net = BUILDERS[model](config.model_args, vocab_size, classes, config.max_len)
        self.net.to(device)
        self.net.train()
        self.clip = config.grad_clip
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        warmup = int(round(config.warmup * total_steps))

        def factor(step: int) -> float:
            if step < warmup:
                return step / warmup
            done = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.loss = nn.CrossEntropyLoss()

    def params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def step(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        x, y = (torch.from_numpy(a).long().to(self.device) for a in (x, y))
        loss = self.loss(self.net(x), y)
        loss.backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.optimizer.step()
        self.schedule.step()
        return loss.detach()
