"""Which ``max_len`` tokens of a longer text a per-text model reads: the ``truncate`` key.

``head`` keeps the first tokens (the default), ``tail`` the last, ``head_tail`` the first
quarter of ``max_len`` and the rest from the end. Reviews and answers often conclude at the
end, and Sun et al. 2019 ("How to Fine-Tune BERT for Text Classification") found head + tail
(128 + 382 of 512) best on IMDB. Pure numpy and nothing else, so an export (which imports
neither Flax nor ``datasets``) cuts texts exactly as its run did.
"""

from __future__ import annotations

import numpy as np

TRUNCATIONS = ("head", "tail", "head_tail")


def head_counts(kept: np.ndarray, budget: np.ndarray | int, keep: str) -> np.ndarray:
    """Tokens taken from the start of each row that keeps ``kept`` of at most ``budget``;
    the other ``kept - head`` come from its end (rows that fit are whole either way).

    >>> head_counts(np.array([3, 8, 8]), 8, "head_tail").tolist()
    [2, 2, 2]
    """
    if keep == "head":
        return kept
    if keep == "tail":
        return np.zeros_like(kept)
    if keep == "head_tail":
        return np.minimum(kept, np.asarray(budget) // 4)
    raise ValueError(f"truncate must be one of {', '.join(TRUNCATIONS)}, not {keep!r}")


def truncate(ids: np.ndarray, offsets: np.ndarray, max_len: int | np.ndarray,
             keep: str = "head") -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_len`` ids of every row of a flat (ids, offsets) encoding.

    ``max_len`` may be one int or one per row (a pair's share of the window); ``keep``
    is one of ``TRUNCATIONS``. Rows that fit are returned whole, in order.

    >>> ids, offsets = np.arange(10, dtype=np.int32), np.array([0, 2, 10])
    >>> [truncate(ids, offsets, 4, k)[0].tolist() for k in TRUNCATIONS]
    [[0, 1, 2, 3, 4, 5], [0, 1, 6, 7, 8, 9], [0, 1, 2, 7, 8, 9]]
    """
    full = np.diff(offsets)
    kept = np.minimum(full, max_len)
    head = head_counts(kept, max_len, keep)  # checks ``keep`` even when nothing is cut
    new_offsets = np.concatenate([[0], np.cumsum(kept)])
    if new_offsets[-1] == offsets[-1]:
        return ids, offsets
    within = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], kept)
    # past its head a row skips the tokens dropped from its middle
    skip = np.where(within >= np.repeat(head, kept), np.repeat(full - kept, kept), 0)
    return ids[np.repeat(offsets[:-1], kept) + within + skip], new_offsets
