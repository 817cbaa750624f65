"""Tokenize a ``LoadedData`` once: train its tokenizer, encode every split, cache both.

Tokenizing IMDB takes seconds and notebooks re-run cells, so for file-backed splits the
trained tokenizer and the encodings are kept on disk, keyed by the split's fingerprint,
the tokenizer and ``_RECIPE``. An ``EncodedSplit`` stores a split flat (ids + offsets),
which is what batching slices and what caches write in one array each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import datasets
import numpy as np
from tokenizers import __version__ as tokenizers_version

from jaxtext.data.disk_cache import _atomic_write, _cache_path
from jaxtext.data.pairs import SHOWN_SEPARATOR, join_pairs
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.registry import tokenizers as tokenizer_registry
from jaxtext.truncation import truncate

_RECIPE = "1"  # bump when tokenizer factories or encoding rules change (invalidates caches)
_TOKENIZERS_VERSION = tokenizers_version


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """One tokenized split, stored flat: row ``i`` is ``ids[offsets[i]:offsets[i+1]]``.

    ids: int32[total_tokens], every row's tokens concatenated (no padding, no bos/eos).
    offsets: int64[rows + 1].
    labels: int32[rows] class ids (classify), float32[rows] targets (regression),
        float32[rows, K] multi-hot labels (multilabel) or None (lm).
    num_chars: characters of text the tokens cover plus one per row for its ``<eos>``:
        for an LM, bits per character = sum of target nats / ln 2 / num_chars (every
        token of a split packed by ``pack_lm`` is a target exactly once).
    dataset: the split itself (None for texts outside a dataset); ``texts(rows)`` reads
        texts from it for display.
    """

    ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray | None
    num_chars: int
    dataset: datasets.Dataset | None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """int64[rows] tokens per row."""
        return np.diff(self.offsets)

    def tokens(self, row: int) -> np.ndarray:
        """int32 ids of one row (a view)."""
        return self.ids[self.offsets[row] : self.offsets[row + 1]]

    def subset(self, rows: np.ndarray) -> EncodedSplit:
        """Only ``rows`` (sorted), e.g. a fixed evaluation sample (``num_chars`` stays the
        whole split's: a sample's bits per character are scaled by the caller)."""
        rows = np.asarray(rows, np.int64)
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        take = np.repeat(self.offsets[rows], lengths) + (
            np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths))
        labels = self.labels[rows] if self.labels is not None else None
        dataset = self.dataset.select(rows) if self.dataset is not None else None
        return EncodedSplit(self.ids[take], offsets, labels, self.num_chars, dataset)

    def texts(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """Original texts of some rows, e.g. the ``index`` of misclassified batch rows."""
        rows = [int(r) for r in np.asarray(rows).ravel() if r >= 0]
        if not rows:
            return []
        chosen = self.dataset.select(rows)
        if "text_pair" in chosen.column_names:
            return [a + SHOWN_SEPARATOR + b for a, b in zip(chosen["text"], chosen["text_pair"],
                                                            strict=True)]
        return chosen["text"][:]


def encode_splits(loaded, tokenizer: TextTokenizer, max_len: int | None,
                  progress: Callable[[str], None] | None = None,
                  keep: str = "head") -> dict[str, EncodedSplit]:
    """Tokenize every split of a ``LoadedData`` once.

    max_len: tokens kept per text (classification); ``None`` keeps whole texts (lm,
        where ``pack_lm`` cuts windows). ``keep``: which tokens of a longer text (the
        ``truncate`` key: "head", "tail" or "head_tail"). Encodings of file-backed splits
        (built-in and file datasets) are cached on disk, whole (cut afterwards), keyed by
        the split's fingerprint and the tokenizer, so re-running a notebook cell does not
        re-tokenize. ``progress(text)`` hears which split is encoded and how far it got, or
        that it was cached.
    """
    out = {}
    for split, ds in loaded.splits.items():
        encoded = []  # set by the first progress report: this split was not in the cache

        def report(done: int, total: int, split=split, encoded=encoded) -> None:
            encoded.append(done)
            if progress is not None:
                progress(f"tokenizing {split}: {done:,}/{total:,} texts")

        full_ids, full_offsets = _cached_encoding(ds, tokenizer, report)
        if progress is not None and not encoded:
            progress(f"{split}: {len(full_offsets) - 1:,} texts, tokenized (cached)")
        if "text_pair" in ds.column_names:  # a pair task: a <eos> b, cut longest first
            second = _cached_encoding(ds, tokenizer, report, column="text_pair")
            ids, offsets = join_pairs((full_ids, full_offsets), second, max_len, keep)
            chars = len(ids)  # bits per character are an lm's, which has no pairs
        else:
            ids, offsets = (
                (full_ids, full_offsets)
                if max_len is None
                else truncate(full_ids, full_offsets, max_len, keep)
            )
            texts = ds.with_format("arrow")["text"]
            chars = _covered_chars(texts, tokenizer, full_offsets, ids, offsets)
        out[split] = EncodedSplit(ids, offsets, split_targets(loaded, ds), chars, ds)
    return out


def split_targets(loaded, ds: datasets.Dataset) -> np.ndarray | None:
    """What a split's batches carry as labels, by task: class ids int32[N] (classify),
    targets float32[N] (regression), multi-hot float32[N, K] (multilabel), None (lm)."""
    task = getattr(loaded, "task", "classify")
    if "label" not in ds.column_names or task == "lm":
        return None
    column = ds.with_format("arrow")["label"]
    if task == "regression":
        return column.to_numpy().astype(np.float32)
    if task == "multilabel":
        return multi_hot(column.to_pylist(), loaded.label_names)
    return column.to_numpy().astype(np.int32) if loaded.label_names else None


def multi_hot(rows: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    """float32[N, K]: 1 where row i has label names[k] (labels not in ``names`` are ignored).

    >>> multi_hot([["b"], [], ["a", "b"]], ["a", "b"]).tolist()
    [[0.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    """
    index = {name: k for k, name in enumerate(names)}
    out = np.zeros((len(rows), len(names)), np.float32)
    for i, row in enumerate(rows):
        out[i, [index[x] for x in row if x in index]] = 1.0
    return out


def _covered_chars(texts, tokenizer, full_offsets, ids, offsets) -> int:
    """Text length of rows kept whole, the tokenizer's count for truncated ones, + eos."""
    import pyarrow.compute as pc

    chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    cut = np.diff(offsets) < np.diff(full_offsets)
    if cut.any():
        per_row = np.add.reduceat(tokenizer._char_table()[ids], offsets[:-1])
        chars = np.where(cut, per_row, chars)
    return int(chars.sum()) + len(chars)


def train_tokenizer(loaded, kind: str, vocab_size: int, lowercase: bool = True) -> TextTokenizer:
    """``TextTokenizer.train`` on ``loaded``'s train split, cached on disk when possible.

    Training on IMDB takes seconds; for file-backed splits (built-in and file datasets)
    and built-in kinds the result is stored under the datasets cache, keyed by the split's
    fingerprint and the arguments, so later runs load it in milliseconds.
    """
    train = loaded.splits["train"]
    cacheable = bool(train.cache_files) and tokenizer_registry.sources().get(kind) == "built-in"
    path = _cache_path(
        "tokenizers",
        f"{train._fingerprint}|{kind}|{vocab_size}|{lowercase}|{_TOKENIZERS_VERSION}|{_RECIPE}",
        ".json",
    )
    if cacheable and path.exists():
        try:
            return TextTokenizer.load(path)
        except Exception:  # unreadable or stale cache entry: retrain
            pass
    texts = train["text"]
    if "text_pair" in train.column_names:  # pairs: both texts' words are the vocabulary
        texts = [*texts, *train["text_pair"]]
    tok = TextTokenizer.train(kind, texts, vocab_size, lowercase)
    if cacheable:
        _atomic_write(path, lambda tmp: tmp.write_text(tok.to_json(), encoding="utf-8"))
    return tok


def _cached_encoding(ds: datasets.Dataset, tokenizer: TextTokenizer, progress=None,
                     column: str = "text"):
    if not ds.cache_files:  # in-memory data has no stable fingerprint: encode each time
        return tokenizer._encode_flat(ds.with_format("arrow")[column].to_pylist(), progress)
    key = f"{ds._fingerprint}|{tokenizer.to_json()}|{_RECIPE}"
    path = _cache_path("encoded", key if column == "text" else f"{key}|{column}", ".npz")
    try:
        with np.load(path) as f:
            return f["ids"].astype(np.int32), f["offsets"]
    except (OSError, KeyError, ValueError):
        pass
    ids, offsets = tokenizer._encode_flat(ds.with_format("arrow")[column].to_pylist(), progress)
    small = ids.astype(np.uint16) if tokenizer.vocab_size <= 1 << 16 else ids  # half the disk
    _atomic_write(path, lambda tmp: np.savez(tmp, ids=small, offsets=offsets))
    return ids, offsets
