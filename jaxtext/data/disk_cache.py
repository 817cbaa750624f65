"""Where jaxtext keeps what it derives from data (split datasets, tokenizers, encodings).

Entries live next to the Hugging Face datasets cache, so moving that (``HF_DATASETS_CACHE``)
moves ours too. They are written atomically because several notebooks or benchmark
processes may build the same entry at once, and a read-only cache is never an error:
the work is just redone next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import datasets


def _cache_dir() -> Path:
    """The folder holding every jaxtext cache entry."""
    return Path(datasets.config.HF_DATASETS_CACHE) / "jaxtext"


def _cache_path(folder: str, key: str, suffix: str) -> Path:
    """A file under ``folder`` named by a hash of ``key`` (everything the entry depends on)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return _cache_dir() / folder / f"{digest}{suffix}"


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Have ``write(tmp)`` create a file or folder, then rename it to ``path``.

    The rename is atomic, so concurrent runs never read a partial entry. If it fails (a
    read-only cache, or a folder another process finished first) the temporary copy is
    removed and ``path`` is left as it is: callers read ``path`` or fall back to memory.
    Anything else (Ctrl-C, a full disk's MemoryError) also removes it, then propagates.
    """
    tmp = path.with_name(f".{os.getpid()}.{threading.get_ident()}.{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError:  # read-only cache or lost a race: fine, just slower next time
        _remove(tmp)
    except BaseException:  # KeyboardInterrupt mid-write: never leave half a file behind
        _remove(tmp)
        raise


def _remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        if tmp.is_dir():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)
