"""``stream: true``: a language model's corpus read lazily, never held in memory.

The first ``stream_holdout`` texts are the validation split and the next ``stream_holdout``
the test split (materialized: small); the tokenizer learns from the ``stream_sample``
texts after them; training reads every text after the held-out ones, pass after pass
(``stream_batches``). An epoch is ``steps_per_epoch`` steps, or, for local files, about one
pass: the files' rows (estimated from their size) times the sample's tokens per text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import datasets

from jaxtext.config import Config
from jaxtext.data.batching import _round_up, pack_lm
from jaxtext.data.encoding import encode_splits, train_tokenizer
from jaxtext.data.load import LoadedData
from jaxtext.data.prepare import PreparedData
from jaxtext.data.stream_batches import Prefetcher, pack_windows, stream_batches
from jaxtext.data.stream_source import TextStream, open_stream
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.errors import ConfigError, DataError
from jaxtext.training.memory import check_training_memory


@dataclass
class StreamingData(PreparedData):
    """``PreparedData`` whose train split is a stream: ``batches("train", ...)`` gives a
    ``StreamBatches`` (a known length, read in order); validation and test are in memory."""

    stream: TextStream | None = None
    windows_per_pass: int = 0  # estimated; 0 when the stream's length is unknown
    _live: Prefetcher | None = field(default=None, repr=False)

    def steps(self, rows: int) -> int:
        """Steps of ``rows`` windows that make an epoch."""
        return self.config.steps_per_epoch or max(1, math.ceil(self.windows_per_pass / rows))

    def size(self, split: str) -> int:
        if split != "train":
            return super().size(split)
        rows = self.config.batch_size * self.config.accumulate
        return self.steps(rows) * rows

    def batches(self, split: str, *, epoch: int = 0, shuffle: bool = False,
                pad_to_multiple: int = 1, per_step: int = 1):
        if split != "train":
            return super().batches(split, epoch=epoch, shuffle=shuffle,
                                   pad_to_multiple=pad_to_multiple, per_step=per_step)
        rows = _round_up(self.config.batch_size * per_step, pad_to_multiple)
        steps = self.steps(rows)
        return StreamBatches(self, rows, epoch * steps, steps, shuffle,
                             last=epoch + 1 >= self.config.epochs)

    def chars(self, split: str) -> float:
        if split == "train":
            raise DataError(_NOT_IN_MEMORY)
        return super().chars(split)

    def _prefetcher(self, rows: int, first: int, shuffle: bool) -> Prefetcher:
        """The running stream if it stands at batch ``first``, else a new one read to it."""
        live = self._live
        if live is not None and live.key == (rows, shuffle) and live.position == first:
            return live
        self._keep(None)
        cfg, tokenizer, stream = self.config, self.tokenizer, self.stream
        skip = 2 * cfg.stream_holdout

        def make() -> Iterator:
            chunks = (tokenizer._encode_flat(texts) for texts in _endless(stream, skip))
            windows = pack_windows(chunks, cfg.max_len, finish=False)
            return stream_batches(windows, rows, shuffle=shuffle, seed=cfg.seed, start=first)

        live = Prefetcher(make, position=first)
        live.key = (rows, shuffle)
        return live

    def _keep(self, live: Prefetcher | None) -> None:
        if self._live is not None and self._live is not live:
            self._live.close()
        self._live = live


class StreamBatches:
    """One epoch of a stream's batches: ``len()`` is known, iteration reads them in order
    from a background thread, and ``batches[start:]`` skips (a resumed epoch)."""

    def __init__(self, data: StreamingData, rows: int, first: int, count: int, shuffle: bool,
                 last: bool):
        self.data, self.rows, self.first, self.count = data, rows, first, count
        self.shuffle, self.last = shuffle, last

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: slice) -> StreamBatches:
        if not (isinstance(index, slice) and index.stop is None and index.step in (None, 1)):
            raise TypeError("a stream's batches are read in order: only batches[start:]")
        start = min(max(index.start or 0, 0), self.count)
        return StreamBatches(self.data, self.rows, self.first + start, self.count - start,
                             self.shuffle, self.last)

    def __iter__(self):
        live = self.data._prefetcher(self.rows, self.first, self.shuffle)
        done = 0
        try:
            while done < self.count:
                yield live.next()
                done += 1
        finally:  # the next epoch goes on from here; a stop or the last epoch ends the thread
            self.data._keep(live if done == self.count and not self.last else None)


def prepare_stream(config: Config, tokenizer: TextTokenizer | None = None,
                   progress: Callable[[str], None] | None = None) -> StreamingData:
    """Open the stream, hold out validation and test, train the tokenizer on a sample."""
    say = progress or (lambda text: None)
    stream = open_stream(config.data, config.text_column)
    holdout = config.stream_holdout
    say(f"streaming {stream.name}: reading {2 * holdout:,} held-out texts and a sample of "
        f"{config.stream_sample:,}")
    head = stream.first(2 * holdout + config.stream_sample)
    if len(head) <= 2 * holdout:
        raise DataError(
            f"{stream.name} holds {len(head)} non-blank texts, not more than the "
            f"{2 * holdout} held out for validation and test (stream_holdout: {holdout}); "
            "lower stream_holdout or give more text")
    sample = head[2 * holdout:]
    splits = {"train": sample, "validation": head[:holdout], "test": head[holdout:2 * holdout]}
    loaded = LoadedData(datasets.DatasetDict(
        {s: datasets.Dataset.from_dict({"text": t}) for s, t in splits.items()}), [],
        stream.name, "lm")
    if tokenizer is None:
        say(f"the {config.tokenizer} tokenizer: training it on {len(sample):,} sampled texts")
        tokenizer = train_tokenizer(loaded, config.tokenizer, config.vocab_size,
                                    config.lowercase)
    encoded = encode_splits(loaded, tokenizer, None, progress=say)
    check_training_memory(config, vocab_size=tokenizer.vocab_size,
                          num_outputs=tokenizer.vocab_size, seq_len=config.max_len)
    rows = stream.rows_estimate()
    if rows is None and not config.steps_per_epoch:
        raise ConfigError(f"{stream.name} is streamed and its length is unknown; set "
                          "steps_per_epoch (the steps that make an epoch)")
    tokens_per_text = (len(encoded["train"].ids) + 2 * len(sample)) / len(sample)
    windows = round(max(rows - 2 * holdout, 1) * tokens_per_text / config.max_len) \
        if rows else 0
    packed = _HeldOut({s: pack_lm(encoded[s], config.max_len) for s in ("validation", "test")})
    return StreamingData(config, loaded, tokenizer, encoded, packed=packed, stream=stream,
                         windows_per_pass=max(windows, 1))


def _endless(stream: TextStream, skip: int) -> Iterator[list[str]]:
    """The stream's texts after the first ``skip``, pass after pass."""
    while True:
        empty = True
        for texts in stream.batches(skip):
            empty = False
            yield texts
        if empty:
            raise DataError(f"{stream.name} has no text after the {skip} held-out texts; "
                            "lower stream_holdout or give more text")


_NOT_IN_MEMORY = ("a streamed run's train split is not held in memory; evaluate "
                  "'validation' or 'test', or pass the texts: run.evaluate(texts)")


class _HeldOut(dict):
    """The packed validation and test splits; asking for train is a one-line error."""

    def __missing__(self, split: str):
        raise DataError(_NOT_IN_MEMORY)
