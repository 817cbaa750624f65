"""Text pairs (premise / hypothesis, question / answer) as one sequence: ``a <eos> b``.

A pair task names a second text column with ``text_pair``; both texts are tokenized on their
own, then joined with the ``<eos>`` token between them, so every model reads a pair as one text
in which ``<eos>`` marks where the first one ended (no new special token: tokenizers and saved
runs keep their vocabularies). Truncation to ``max_len`` takes from the longer text first, so a
long premise never pushes its hypothesis out of the window; within its share each text keeps
the tokens the ``truncate`` key names (its head, tail or both).
"""

from __future__ import annotations

import numpy as np

from jaxtext.data.tokenizer import EOS_ID
from jaxtext.truncation import truncate

SEPARATOR_ID = EOS_ID
SHOWN_SEPARATOR = " ‖ "  # how a pair is shown as one text (mistakes, predictions)


def pair_budget(len_a: np.ndarray, len_b: np.ndarray, max_len: int | None):
    """Tokens kept of each text so that ``a + <eos> + b`` fits ``max_len``, longest first.

    >>> pair_budget(np.array([3, 100, 100]), np.array([100, 3, 100]), 21)
    (array([ 3, 17, 10]), array([17,  3, 10]))
    """
    if max_len is None:
        return len_a, len_b
    budget = max(max_len - 1, 0)
    keep_b = np.minimum(len_b, np.maximum(budget // 2, budget - len_a))
    keep_a = np.minimum(len_a, budget - keep_b)
    return keep_a, keep_b


def join_pairs(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
               max_len: int | None, keep: str = "head") -> tuple[np.ndarray, np.ndarray]:
    """Two flat encodings (ids, offsets) of the same rows -> one: row i = a_i <eos> b_i,
    each text cut to its share of ``max_len`` keeping ``keep`` ("head", "tail", "head_tail").

    >>> ids, offsets = join_pairs((np.array([5, 6, 7]), np.array([0, 2, 3])),
    ...                           (np.array([8, 9]), np.array([0, 1, 2])), None)
    >>> ids.tolist(), offsets.tolist()
    ([5, 6, 3, 8, 7, 3, 9], [0, 4, 7])
    """
    (ids_a, off_a), (ids_b, off_b) = a, b
    keep_a, keep_b = pair_budget(np.diff(off_a), np.diff(off_b), max_len)
    lengths = keep_a + 1 + keep_b
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.empty(offsets[-1], np.int32)
    ids[_heads(offsets[:-1], keep_a)] = truncate(ids_a, off_a, keep_a, keep)[0]
    ids[offsets[:-1] + keep_a] = SEPARATOR_ID
    ids[_heads(offsets[:-1] + keep_a + 1, keep_b)] = truncate(ids_b, off_b, keep_b, keep)[0]
    return ids, offsets


def _heads(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Flat positions of the first ``counts[i]`` slots after each ``starts[i]``."""
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + within
