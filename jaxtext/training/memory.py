"""Rough memory estimates, checked before anything is compiled or allocated.

A ``max_len`` of a million, or ``max_new_tokens`` of a trillion, should be one line saying
what it would cost, not minutes of swapping followed by a crash deep inside XLA. The
formulas are deliberately coarse (float32 everywhere, the big tensors only) and the limit
generous (all of the memory there is), so they refuse only settings that cannot work.

One training step of a batch of ``B`` sequences of ``T`` tokens (``L`` layers, width ``D``,
``V`` = the outputs of a language model at every position) keeps, per family:

* ``mlp``: the embedded tokens (classify: ``B*T*D*ngrams``; lm: the windows ``B*T*context*D``
  plus ``B*T*hidden*layers``);
* ``lstm``: ``B*T*(D + L*directions*6*hidden)`` (inputs, four gates, cell and hidden state);
* ``transformer``: ``B*T*L*D*(4 + 2*mlp_ratio)`` plus the attention scores and
  probabilities ``2*B*heads*T**2*L``;
* a plugin model: ``B*T*width*layers`` from its ``dim`` / ``hidden`` / ``layers`` keys;

plus ``B*T*V`` logits for a language model. Activations count ``ACTIVATION_COPIES`` times
(forward values kept for the backward pass, their gradients, temporaries) and parameters
four times (weights, gradients, two Adam moments); the transformer's position table grows
with ``max_len``. The batch is split over devices; parameters are replicated.
"""

from __future__ import annotations

import os
import sys

from jaxtext.errors import ConfigError

BYTES = 4  # float32
ACTIVATION_COPIES = 3
PARAM_COPIES = 4
DECODE_CAP = 1 << 30  # bytes of token buffers one generate() call may hold (1 GiB)


def available_memory() -> int | None:
    """Bytes one device can hold: its memory limit on an accelerator, else the machine's RAM.

    None when unknown (no ``sysconf``); callers then skip the check.
    """
    jax = sys.modules.get("jax")  # only ask JAX when it is already loaded
    if jax is not None:
        try:
            device = jax.local_devices()[0]
            if device.platform != "cpu":
                limit = (device.memory_stats() or {}).get("bytes_limit")
                if limit:
                    return int(limit)
        except Exception:  # no backend or no stats: fall back to the host's memory
            pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _device_count() -> int:
    jax = sys.modules.get("jax")
    try:
        return max(1, jax.local_device_count()) if jax is not None else 1
    except Exception:
        return 1


def training_step_bytes(config, *, vocab_size: int, num_outputs: int, seq_len: int) -> float:
    """Estimated bytes of one training step (see the module docstring for the formulas).

    ``seq_len``: the widest batch the data will make (the bucket of the longest text for a
    classifier, ``max_len`` for a language model). Floats, so absurd sizes cannot overflow.
    """
    m = config.model_args
    size = {k: float(getattr(m, k)) for k in ("dim", "hidden", "layers", "heads", "context",
                                              "ngrams", "ngram_buckets", "mlp_ratio")
            if isinstance(getattr(m, k, None), (int, float))}
    B, T, V = float(config.batch_size), float(seq_len), float(vocab_size)
    lm = config.task == "lm"
    D, L = size.get("dim", 64.0), max(size.get("layers", 1.0), 1.0)
    H = size.get("hidden", D)
    if config.model == "mlp":
        ngrams = size.get("ngrams", 1.0)
        if lm:
            window = size.get("context", 4.0) * D
            per_token = window + H * size.get("layers", 0.0)
            params = V * D + window * H + H * num_outputs
        else:
            per_token = D * ngrams
            buckets = size.get("ngram_buckets", 0.0) if ngrams > 1 else 0.0
            params = (V + buckets) * D + D * H + H * num_outputs
        attention = 0.0
    elif config.model == "lstm":
        directions = 1.0 if lm or not getattr(m, "bidirectional", True) else 2.0
        per_token = D + L * directions * 6 * H
        params = V * D + L * directions * 4 * H * (D + H) + H * directions * num_outputs
        attention = 0.0
    elif config.model == "transformer":
        ratio = size.get("mlp_ratio", 2.0)
        per_token = L * D * (4 + 2 * ratio)
        attention = 2 * B * size.get("heads", 1.0) * T * T * L
        params = (V + float(config.max_len)) * D + L * D * D * (4 + 2 * ratio) + D * num_outputs
    else:
        per_token = max(D, H) * L
        attention = 0.0
        params = V * D + L * max(D, H) ** 2
    logits = B * T * num_outputs if lm else B * num_outputs
    activations = (B * T * per_token + attention + logits) * ACTIVATION_COPIES
    return BYTES * (activations / _device_count() + params * PARAM_COPIES)


def check_training_memory(config, *, vocab_size: int, num_outputs: int, seq_len: int) -> None:
    """Refuse, before compiling, a step that cannot fit in memory (one line, with the estimate)."""
    need = training_step_bytes(config, vocab_size=vocab_size, num_outputs=num_outputs,
                               seq_len=seq_len)
    have = available_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"max_len {config.max_len} with batch_size {config.batch_size} needs about "
            f"{_size(need)} for one training step of model '{config.model}', more than the "
            f"{_size(have)} available; use a smaller max_len or batch_size"
        )


def check_decode_memory(*, max_new_tokens: int, num_samples: int, slots: float,
                        cache_bytes: float = 0.0) -> None:
    """Refuse a generate() call whose token buffers exceed ``DECODE_CAP`` (or the memory).

    ``slots``: decoded positions times batch rows. Each holds a forced (prompt) token, the
    sampled token and its probability, 4 bytes each; plus the model's cache.
    """
    need = float(slots) * 3 * BYTES + cache_bytes
    have = available_memory()
    cap = min(DECODE_CAP, have) if have else DECODE_CAP
    if need > cap:
        raise ConfigError(
            f"max_new_tokens {max_new_tokens} x num_samples {num_samples} needs about "
            f"{_size(need)} of decode buffers, above the {_size(cap)} cap; ask for fewer "
            "tokens or samples (or call generate several times)"
        )


def _size(n: float) -> str:
    """1536 -> '1.5 KiB'; absurd sizes stay readable."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if unit == "PiB" and n >= 1e6:
            return f"{n:.1e} PiB"
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # unreachable
