"""Batches from a stream of texts, made on a background thread: LM windows, packed and
shuffled, or length-bucketed classification batches.

The training stream is endless: the texts after the held-out ones, pass after pass, each
chunk encoded with ``encode_batch`` (which releases the GIL, so the thread runs beside the
training loop), packed exactly as ``pack_lm`` packs a split (``<bos> doc <eos>`` windows of
``max_len + 1`` tokens overlapping by one) and shuffled within blocks of
``SHUFFLE_BATCHES`` batches, each block with its own seeded permutation. Batch ``g`` of the
stream is therefore a pure function of the data, the tokenizer, the seed and ``g``: epoch
``e`` is batches ``e * steps .. (e + 1) * steps``, and a resumed run gets the same batches
by reading the stream again up to where its checkpoint stopped. A classifier's stream is
cut the same way, in blocks of examples, each block batched by ``classify_batches``.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from jaxtext.data.batching import Batch, LMBatch, classify_batches
from jaxtext.data.encoding import EncodedSplit
from jaxtext.data.tokenizer import BOS_ID, EOS_ID, PAD_ID
from jaxtext.truncation import truncate

SHUFFLE_BATCHES = 64  # batches per shuffled block (64 x 64 x 257 int32 = 4 MB)
QUEUE_BATCHES = 8  # batches the thread prepares ahead of the training loop


def pack_windows(chunks: Iterable[tuple[np.ndarray, np.ndarray]], seq_len: int,
                 finish: bool = True) -> Iterator[np.ndarray]:
    """``pack_lm``'s windows, int32[k, seq_len + 1] per chunk, from flat encoded chunks.

    chunks: ``(ids, offsets)`` of consecutive texts (``TextTokenizer._encode_flat``). The
    windows of all chunks together equal ``pack_lm`` of all texts at once; ``finish``
    pads and yields the last partial window when the chunks run out.
    """
    carry = np.zeros(0, np.int32)
    for ids, offsets in chunks:
        n = len(offsets) - 1
        lengths = np.diff(offsets)
        starts = offsets[:-1] + 2 * np.arange(n)  # each document's <bos>
        ends = starts + lengths + 1  # its <eos>
        docs = np.empty(len(ids) + 2 * n, np.int32)
        is_token = np.ones(len(docs), bool)
        is_token[starts] = is_token[ends] = False
        docs[is_token] = ids
        docs[starts], docs[ends] = BOS_ID, EOS_ID
        carry = np.concatenate([carry, docs])
        count = (len(carry) - 1) // seq_len
        if count:
            index = np.arange(count)[:, None] * seq_len + np.arange(seq_len + 1)
            yield carry[index]
            carry = carry[count * seq_len:]
    if finish and len(carry) > 1:
        last = np.full(seq_len + 1, PAD_ID, np.int32)
        last[: len(carry)] = carry
        yield last[None]


def lm_batch(rows: np.ndarray) -> LMBatch:
    """``lm_batches``'s batch of packed windows int32[B, T + 1]."""
    targets = rows[:, 1:]
    weights = ((targets != PAD_ID) & (targets != BOS_ID)).astype(np.float32)
    return LMBatch(inputs=rows[:, :-1], targets=targets, weights=weights)


def stream_batches(windows: Iterable[np.ndarray], rows: int, *, shuffle: bool, seed: int,
                   start: int = 0) -> Iterator[LMBatch]:
    """Batches of ``rows`` windows from an endless ``windows`` iterator, from batch
    ``start`` of the stream on; with ``shuffle`` each block of ``SHUFFLE_BATCHES`` batches
    is permuted with ``default_rng([seed, block])``."""
    block_rows = rows * SHUFFLE_BATCHES
    flat = _rows_of(windows)
    block = start // SHUFFLE_BATCHES
    for _ in range(block * block_rows):  # resume: read past what earlier blocks held
        next(flat)
    first = start - block * SHUFFLE_BATCHES
    while True:
        window = np.stack(list(itertools.islice(flat, block_rows)))
        if shuffle:
            window = window[np.random.default_rng([seed, block]).permutation(block_rows)]
        for i in range(first, SHUFFLE_BATCHES):
            yield lm_batch(window[i * rows:(i + 1) * rows])
        block, first = block + 1, 0


def classify_stream_batches(examples: Iterable[tuple[str, int]],
                            encode: Callable[[list[str]], tuple[np.ndarray, np.ndarray]],
                            rows: int, *, max_len: int, shuffle: bool, seed: int,
                            start: int = 0, keep: str = "head") -> Iterator[Batch]:
    """Length-bucketed batches of ``rows`` examples from an endless ``(text, label id)``
    iterator, from batch ``start`` on: each block of ``SHUFFLE_BATCHES x rows`` examples is
    encoded (``encode(texts) -> (ids, offsets)``), cut to ``max_len`` keeping ``keep`` (the
    ``truncate`` key) and batched by ``classify_batches`` seeded
    with ``(seed, block)``, so a block gives exactly ``SHUFFLE_BATCHES`` full batches."""
    block_rows = rows * SHUFFLE_BATCHES
    examples = iter(examples)
    block = start // SHUFFLE_BATCHES
    for _ in range(block * block_rows):  # resume: earlier blocks need no encoding
        next(examples)
    first = start - block * SHUFFLE_BATCHES
    while True:
        texts, labels = zip(*itertools.islice(examples, block_rows), strict=True)
        ids, offsets = truncate(*encode(list(texts)), max_len, keep)
        encoded = EncodedSplit(ids, offsets, np.asarray(labels, np.int32), 0, None)
        yield from classify_batches(encoded, rows, shuffle=shuffle, seed=seed, epoch=block,
                                    max_len=max_len)[first:]
        block, first = block + 1, 0


def _rows_of(windows: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for chunk in windows:
        yield from chunk


class Prefetcher:
    """``make()``'s items made on a daemon thread, ``QUEUE_BATCHES`` ahead of the reader.

    ``next()`` returns them in order (re-raising the thread's error, if any, in the reader);
    ``close()`` ends the thread. ``position`` counts the items read.
    """

    def __init__(self, make: Callable[[], Iterator], position: int = 0, key: tuple = ()):
        self.position = position
        self.key = key  # what ``make`` was built for, so a reader can be told apart
        self._queue: queue.Queue = queue.Queue(QUEUE_BATCHES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(make,), daemon=True,
                                        name="jaxtext-stream")
        self._thread.start()

    def _run(self, make: Callable[[], Iterator]) -> None:
        try:
            for item in make():
                if not self._put((True, item)):
                    return
            self._put((False, RuntimeError("the stream of batches ended")))  # never: endless
        except BaseException as err:  # handed to the reader, raised there
            self._put((False, err))

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def next(self):
        ok, item = self._queue.get()
        if not ok:
            self.close()
            raise item
        self.position += 1
        return item

    def close(self) -> None:
        self._stop.set()
