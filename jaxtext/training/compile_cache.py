"""JAX's persistent compilation cache, so a new kernel reuses the last kernel's compiles.

Off when the user already configured a cache dir or sets ``JAXTEXT_COMPILATION_CACHE=0``;
``JAXTEXT_COMPILATION_CACHE=/path`` picks the folder (default ``~/.cache/jaxtext/xla``).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

_enabled = False


def enable() -> None:
    global _enabled
    if _enabled:
        return
    _enabled = True
    setting = os.environ.get("JAXTEXT_COMPILATION_CACHE", "")
    if setting == "0" or jax.config.jax_compilation_cache_dir:
        return
    path = Path(setting) if setting else Path.home() / ".cache" / "jaxtext" / "xla"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Small models compile in well under a second; cache those too.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
