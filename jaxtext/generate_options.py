"""The arguments of ``generate()`` checked in one place: ``Run.generate`` and an exported
language model (``jaxtext.exported``, which must not import Flax) give the same errors."""

from __future__ import annotations

import numbers

import numpy as np

from jaxtext.errors import ConfigError, shown


def check_generate_options(prompt, *, max_new_tokens, temperature, top_k, top_p,
                           num_samples, seed) -> int:
    """One ConfigError naming the first bad generate() argument; returns ``top_k`` as used.

    >>> check_generate_options("Once", max_new_tokens=10, temperature=0.8, top_k=10**12,
    ...                        top_p=0.9, num_samples=1, seed=0)
    2147483647
    """
    if not isinstance(prompt, str):
        raise ConfigError(f"generate takes a prompt text, not {type(prompt).__name__} "
                          f"({shown(prompt)})")
    ints = {"max_new_tokens": (max_new_tokens, 1), "num_samples": (num_samples, 1),
            "top_k": (top_k, 0), "seed": (seed, 0)}
    for key, (value, low) in ints.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ConfigError(f"{key} must be an int, got {shown(value)} ({type(value).__name__})")
        if value < low:
            raise ConfigError(f"{key} must be at least {low}, got {value}")
    if seed >= 2**63:
        raise ConfigError(f"seed must be in 0 <= seed < 2**63, got {shown(seed)}")
    for key, value in (("temperature", temperature), ("top_p", top_p)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ConfigError(f"{key} must be a number, got {shown(value)} "
                              f"({type(value).__name__})")
        if not np.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1] (1 = off), got {top_p}")
    return min(int(top_k), 2**31 - 1)  # any top_k above the vocabulary keeps every token
