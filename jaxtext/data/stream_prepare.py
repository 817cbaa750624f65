"""``stream: true``: a corpus read lazily, never held in memory (task lm or classify).

The first ``stream_holdout`` rows are the validation split and the next ``stream_holdout``
the test split (materialized: small); the tokenizer (and a classifier's label names) come
from the ``stream_sample`` rows after them; training reads every row after the held-out
ones, pass after pass (``stream_batches``). An epoch is ``steps_per_epoch`` steps, or, for
local files, about one pass: the files' rows estimated from their size (an lm: times the
sample's tokens per text, over ``max_len``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import datasets

from jaxtext.config import Config
from jaxtext.data.batching import _round_up, pack_lm
from jaxtext.data.encoding import encode_splits, train_tokenizer
from jaxtext.data.load import LoadedData, load_data
from jaxtext.data.prepared import PreparedData
from jaxtext.data.stream_batches import (
    Prefetcher,
    classify_stream_batches,
    pack_windows,
    stream_batches,
)
from jaxtext.data.stream_source import TextStream, open_stream
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.errors import ConfigError, DataError
from jaxtext.training.memory import check_training_memory


@dataclass
class StreamingData(PreparedData):
    """``PreparedData`` whose train split is a stream: ``batches("train", ...)`` gives a
    ``StreamBatches`` (a known length, read in order); validation and test are in memory."""

    stream: TextStream | None = None
    rows_per_pass: int = 1  # batch rows one pass gives (estimated: lm windows, or examples)
    _live: Prefetcher | None = field(default=None, repr=False)

    def steps(self, rows: int) -> int:
        """Steps of ``rows`` batch rows (lm windows or examples) that make an epoch."""
        return self.config.steps_per_epoch or max(1, math.ceil(self.rows_per_pass / rows))

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

    def close(self) -> None:
        self._keep(None)

    def _prefetcher(self, rows: int, first: int, shuffle: bool) -> Prefetcher:
        """The running stream if it stands at batch ``first``, else a new one read to it."""
        live = self._live
        if live is not None and live.key == (rows, shuffle) and live.position == first:
            return live
        self._keep(None)
        cfg, tokenizer, stream = self.config, self.tokenizer, self.stream
        skip = 2 * cfg.stream_holdout

        def make() -> Iterator:
            if cfg.task == "classify":
                lookup = {label: i for i, label in enumerate(self.label_names)}
                examples = ((text, label) for texts, labels in _endless(stream, skip)
                            for text, label in zip(texts, _label_ids(labels, lookup,
                                                                     stream.name),
                                                   strict=True))
                return classify_stream_batches(examples, tokenizer._encode_flat, rows,
                                               max_len=cfg.max_len, keep=cfg.truncate,
                                               shuffle=shuffle,
                                               seed=cfg.seed, start=first)
            chunks = (tokenizer._encode_flat(texts) for texts, _ in _endless(stream, skip))
            windows = pack_windows(chunks, cfg.max_len, finish=False)
            return stream_batches(windows, rows, shuffle=shuffle, seed=cfg.seed, start=first)

        return Prefetcher(make, position=first, key=(rows, shuffle))

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
    classify = config.task == "classify"
    stream = open_stream(config.data, config.text_column,
                         config.label_column if classify else None)
    holdout = config.stream_holdout
    say(f"streaming {stream.name}: reading {2 * holdout:,} held-out texts and a sample of "
        f"{config.stream_sample:,}")
    texts, labels = stream.first(2 * holdout + config.stream_sample)
    if len(texts) <= 2 * holdout:
        raise DataError(
            f"{stream.name} holds {len(texts)} non-blank texts, not more than the "
            f"{2 * holdout} held out for validation and test (stream_holdout: {holdout}); "
            "lower stream_holdout or give more text")
    loaded = _held_out(texts, labels, holdout, stream.name, config.task)
    sample = loaded.splits["train"]
    if tokenizer is None:
        say(f"the {config.tokenizer} tokenizer: training it on {len(sample):,} sampled texts")
        tokenizer = train_tokenizer(loaded, config.tokenizer, config.vocab_size,
                                    config.lowercase)
    encoded = encode_splits(loaded, tokenizer, config.max_len if classify else None,
                            progress=say, keep=config.truncate)
    outputs = len(loaded.label_names) if classify else tokenizer.vocab_size
    check_training_memory(config, vocab_size=tokenizer.vocab_size, num_outputs=outputs,
                          seq_len=config.max_len)
    rows = stream.rows_estimate()
    if rows is None and not config.steps_per_epoch:
        raise ConfigError(f"{stream.name} is streamed and its length is unknown; set "
                          "steps_per_epoch (the steps that make an epoch)")
    per_pass = max((rows or 0) - 2 * holdout, 1)  # examples, or lm windows:
    if not classify:
        tokens_per_text = (len(encoded["train"].ids) + 2 * len(sample)) / len(sample)
        per_pass = max(round(per_pass * tokens_per_text / config.max_len), 1)
    packed = _HeldOut({} if classify else {
        s: pack_lm(encoded[s], config.max_len) for s in ("validation", "test")})
    return StreamingData(config, loaded, tokenizer, encoded, packed=packed, stream=stream,
                         rows_per_pass=per_pass)


def _held_out(texts: list[str], labels: list | None, holdout: int, name: str,
              task: str) -> LoadedData:
    """validation (the first ``holdout`` rows), test (the next) and train (the sample), as
    ``load_data`` makes them: a classifier's labels become ids of sorted names."""
    parts = {"validation": slice(0, holdout), "test": slice(holdout, 2 * holdout),
             "train": slice(2 * holdout, None)}
    columns = {s: {"text": texts[part]} | ({"label": labels[part]} if labels else {})
               for s, part in parts.items()}
    splits = datasets.DatasetDict({s: datasets.Dataset.from_dict(c) for s, c in columns.items()})
    if task == "lm":
        return LoadedData(splits, [], name, "lm")
    return dataclasses.replace(load_data(splits, task=task), name=name)


def _label_ids(labels: list, lookup: dict[str, int], name: str) -> list[int]:
    """Class ids of a streamed chunk's labels, named as ``load_data`` names them."""
    try:
        return [lookup[_label_name(v)] for v in labels]
    except KeyError:
        unseen = next(v for v in labels if _label_name(v) not in lookup)
        raise DataError(f"{name}: label {unseen!r} was not among the labels of the first "
                        f"rows ({', '.join(lookup)}); raise stream_sample so the sample "
                        "holds every class") from None


def _label_name(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _endless(stream: TextStream, skip: int) -> Iterator[tuple[list[str], list | None]]:
    """The stream's rows after the first ``skip``, pass after pass."""
    while True:
        empty = True
        for rows in stream.batches(skip):
            empty = False
            yield rows
        if empty:
            raise DataError(f"{stream.name} has no text after the {skip} held-out texts; "
                            "lower stream_holdout or give more text")


_NOT_IN_MEMORY = ("a streamed run's train split is not held in memory; evaluate "
                  "'validation' or 'test', or pass the texts: run.evaluate(texts)")


class _HeldOut(dict):
    """The packed validation and test splits; asking for train is a one-line error."""

    def __missing__(self, split: str):
        raise DataError(_NOT_IN_MEMORY)
