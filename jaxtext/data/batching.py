"""Fixed-shape numpy batches: length-bucketed for classification, packed windows for LMs.

Shapes are static so a jitted step compiles once per shape: the batch dimension is always
``batch_size`` (rounded up to ``pad_to_multiple``), the last partial batch is filled with
weight-0 rows instead of being dropped, and classification sequence lengths come from
``bucket_widths(max_len)``, a handful of values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxtext.data.encoding import EncodedSplit
from jaxtext.data.tokenizer import BOS_ID, EOS_ID, PAD_ID


class Batch(NamedTuple):
    """A classification batch. Padding rows have weight 0, label 0 and index -1."""

    tokens: np.ndarray  # int32[B, T], PAD_ID (0) after each row's length
    mask: np.ndarray  # bool[B, T], True on real tokens
    labels: np.ndarray  # int32[B] classes | float32[B] targets | float32[B, K] multi-hot
    weights: np.ndarray  # float32[B], 1 for real rows, 0 for padding rows
    index: np.ndarray  # int64[B], row in the split (EncodedSplit.texts(index)), -1 = padding


class LMBatch(NamedTuple):
    """A language-model batch of packed windows; ``targets`` are ``inputs`` shifted by one."""

    inputs: np.ndarray  # int32[B, T]
    targets: np.ndarray  # int32[B, T]
    weights: np.ndarray  # float32[B, T], 0 on padding and on <bos> targets


def bucket_widths(max_len: int, num_buckets: int = 8, min_width: int = 16) -> tuple[int, ...]:
    """Sequence lengths a classification batch may have: a geometric ladder to ``max_len``.

    At most ``num_buckets`` widths (so at most that many compiled shapes per step), each
    a multiple of 8, each about ``(max_len / min_width) ** (1 / 7)`` times the previous:
    a row pays at most ~50% padding, IMDB at max_len=256 about 8% (powers of two: 17%).

    >>> bucket_widths(256)
    (16, 24, 40, 56, 80, 120, 176, 256)
    >>> bucket_widths(2048), bucket_widths(10)
    ((16, 32, 64, 128, 256, 512, 1024, 2048), (10,))
    """
    if max_len <= min_width or num_buckets < 2:
        return (max_len,)
    ratio = (max_len / min_width) ** (1 / (num_buckets - 1))
    widths = {min(max_len, _round_up(round(min_width * ratio**i), 8)) for i in range(num_buckets)}
    return tuple(sorted(widths | {max_len}))


def classify_batches(
    encoded: EncodedSplit,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    max_len: int,
    pad_to_multiple: int = 1,
) -> list[Batch]:
    """One epoch of length-bucketed classification batches.

    Every row is in exactly one batch, at most ``max_len`` long (``encode_splits`` cut it as
    the ``truncate`` key says; anything longer here keeps its head) and padded
    to its bucket width. Training (``shuffle=True``): rows are shuffled, grouped by bucket
    into full batches, the leftovers of all buckets are sorted by length and batched
    together (so at most one batch is partial), then the batch order is shuffled; all
    seeded by ``(seed, epoch)``. Evaluation (``shuffle=False``): rows sorted by length,
    deterministic, minimal padding. The number of batches does not depend on the epoch.

    B = ``batch_size`` rounded up to a multiple of ``pad_to_multiple`` (devices).
    """
    if encoded.labels is None:
        raise ValueError(
            "classify_batches needs labels; encode a split loaded with a labeled task"
        )
    size = _round_up(batch_size, pad_to_multiple)
    lengths = np.minimum(encoded.lengths, max_len)
    widths = np.asarray(bucket_widths(max_len))
    n = len(encoded)
    if shuffle:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(n)
        bucket = np.searchsorted(widths, lengths[order])
        groups, leftovers = [], []
        for b in range(len(widths)):
            rows = order[bucket == b]
            full = len(rows) - len(rows) % size
            groups.extend(rows[:full].reshape(-1, size))
            leftovers.append(rows[full:])
        rest = np.concatenate(leftovers)
        rest = rest[np.argsort(lengths[rest], kind="stable")]
        groups.extend(rest[i : i + size] for i in range(0, len(rest), size))
        groups = [groups[i] for i in rng.permutation(len(groups))]
    else:
        order = np.argsort(lengths, kind="stable")
        groups = [order[i : i + size] for i in range(0, n, size)]
    return [_classify_batch(encoded, rows, lengths, size, widths) for rows in groups]


def _classify_batch(encoded, rows, lengths, size, widths) -> Batch:
    lens = lengths[rows]
    width = int(widths[np.searchsorted(widths, lens.max())])
    tokens = np.zeros((size, width), np.int32)
    # scatter every row's first `len` ids into its line of `tokens` in one shot
    line = np.repeat(np.arange(len(rows)), lens)
    col = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    tokens[line, col] = encoded.ids[np.repeat(encoded.offsets[rows], lens) + col]
    pad = size - len(rows)
    row_lens = np.concatenate([lens, np.zeros(pad, lens.dtype)])
    return Batch(
        tokens=tokens,
        mask=np.arange(width) < row_lens[:, None],
        labels=_pad_rows(encoded.labels[rows], pad),
        weights=np.concatenate([np.ones(len(rows), np.float32), np.zeros(pad, np.float32)]),
        index=np.concatenate([rows, np.full(pad, -1)]).astype(np.int64),
    )


def _pad_rows(labels: np.ndarray, pad: int) -> np.ndarray:
    """``labels`` with ``pad`` zero rows after it; class ids stay int32, targets float32."""
    dtype = np.int32 if np.issubdtype(labels.dtype, np.integer) else np.float32
    filler = np.zeros((pad, *labels.shape[1:]), dtype)
    return np.concatenate([labels.astype(dtype, copy=False), filler])


def padding_fraction(batches: Sequence[Batch | LMBatch]) -> float:
    """Fraction of token slots in ``batches`` that are padding (compute paid for nothing)."""
    real = total = 0
    for b in batches:
        used = b.mask if isinstance(b, Batch) else b.targets != PAD_ID
        real += int(used.sum())
        total += used.size
    return 1.0 - real / total if total else 0.0


def pack_lm(encoded: EncodedSplit, seq_len: int) -> np.ndarray:
    """Pack a split into windows: int32[N, seq_len + 1], inputs ``[:, :-1]``, targets ``[:, 1:]``.

    The split becomes one stream ``<bos> doc <eos> <bos> doc <eos> ...`` (encode with
    ``max_len=None`` so documents are whole) cut into windows that overlap by one token,
    so every token after the first is a target exactly once. Only the last window is
    padded (with ``<pad>``, weight 0 in ``lm_batches``). Pack each split separately.
    """
    n, total = len(encoded), len(encoded.ids)
    starts = encoded.offsets[:-1] + 2 * np.arange(n)  # where each document's <bos> goes
    ends = starts + encoded.lengths + 1  # where its <eos> goes
    stream_len = total + 2 * n
    windows = max(1, -(-(stream_len - 1) // seq_len))
    stream = np.full(windows * seq_len + 1, PAD_ID, np.int32)
    is_token = np.ones(stream_len, bool)
    is_token[starts] = is_token[ends] = False
    stream[:stream_len][is_token] = encoded.ids
    stream[starts], stream[ends] = BOS_ID, EOS_ID
    index = np.arange(windows)[:, None] * seq_len + np.arange(seq_len + 1)
    return stream[index]


def lm_batches(
    packed: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    pad_to_multiple: int = 1,
) -> list[LMBatch]:
    """Batches of packed windows; the last batch is filled with all-padding rows.

    Weights are 0 on padding and on ``<bos>`` targets (always right after ``<eos>``, so
    free to predict), 1 elsewhere. Bits per character of a whole split:
    ``sum(nats * weights) / ln(2) / EncodedSplit.num_chars``.
    """
    size = _round_up(batch_size, pad_to_multiple)
    n = len(packed)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    out = []
    for i in range(0, n, size):
        rows = packed[order[i : i + size]]
        if len(rows) < size:
            rows = np.concatenate(
                [rows, np.full((size - len(rows), rows.shape[1]), PAD_ID, np.int32)]
            )
        targets = rows[:, 1:]
        weights = ((targets != PAD_ID) & (targets != BOS_ID)).astype(np.float32)
        out.append(LMBatch(inputs=rows[:, :-1], targets=targets, weights=weights))
    return out


def _round_up(batch_size: int, multiple: int) -> int:
    if batch_size < 1 or multiple < 1:
        raise ValueError(
            f"batch_size and pad_to_multiple must be >= 1, got {batch_size}, {multiple}"
        )
    return -(-batch_size // multiple) * multiple
