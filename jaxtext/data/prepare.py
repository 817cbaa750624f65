"""Config -> tokenized, batch-ready data for one task (the data half of a run).

``PreparedData`` is what both the trainer and a finished ``Run`` use to make batches,
so evaluation after training goes through exactly the same path as during training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxtext.config import Config, describe_data
from jaxtext.data.batching import bucket_widths, classify_batches, lm_batches, pack_lm
from jaxtext.data.encoding import encode_splits, train_tokenizer
from jaxtext.data.load import LoadedData, load_data
from jaxtext.data.splits import SPLITS
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.errors import DataError
from jaxtext.protocols import Dims
from jaxtext.tasks import per_text
from jaxtext.training.memory import check_training_memory


@dataclass
class PreparedData:
    config: Config
    loaded: LoadedData
    tokenizer: TextTokenizer
    encoded: dict[str, Any]  # split -> EncodedSplit
    packed: dict[str, np.ndarray] = field(default_factory=dict)  # lm: split -> int32[N, T+1]
    # numbers the task takes from the data, saved with the run (regression: target_mean/std)
    task_params: dict[str, float] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def label_names(self) -> list[str]:
        return list(self.loaded.label_names)

    @property
    def dims(self) -> Dims:
        vocab = self.tokenizer.vocab_size
        outputs = {"lm": vocab, "regression": 1}.get(self.task, len(self.label_names))
        return Dims(vocab_size=vocab, num_outputs=outputs, max_len=self.config.max_len,
                    task=self.task, pad_id=self.tokenizer.pad_id)

    def size(self, split: str) -> int:
        if per_text(self.task):
            return len(self.encoded[split].labels)
        return int(self.packed[split].shape[0])

    def batches(self, split: str, *, epoch: int = 0, shuffle: bool = False, pad_to_multiple: int = 1,
                per_step: int = 1):
        """The split's batches; ``per_step`` batches of ``batch_size`` make one (accumulation)."""
        cfg = self.config
        size = cfg.batch_size * per_step
        if per_text(self.task):
            return classify_batches(self.encoded[split], size, shuffle=shuffle,
                                    seed=cfg.seed, epoch=epoch, max_len=cfg.max_len,
                                    pad_to_multiple=pad_to_multiple)
        return lm_batches(self.packed[split], size, shuffle=shuffle, seed=cfg.seed,
                          epoch=epoch, pad_to_multiple=pad_to_multiple)

    def chars(self, split: str) -> float:
        """Characters the split's tokens cover (the denominator of bits per character)."""
        return float(self.encoded[split].num_chars)

    def close(self) -> None:
        """Training is over: a stream ends its reader thread (in memory: nothing to do)."""

    def default_prompt(self, words: int = 4) -> str:
        """The first words of the first validation text: a prompt from the data's own world."""
        texts = self.loaded.splits["validation"]["text"][:1]
        return " ".join(texts[0].split()[:words]) + " " if texts else ""


def prepare_data(config: Config, tokenizer: TextTokenizer | None = None,
                 progress: Callable[[str], None] | None = None) -> PreparedData:
    """Load, split, tokenize (training a tokenizer on train unless one is given) and pack.

    ``progress(text)`` hears what is being done ("loading imdb", "training the word
    tokenizer on 18,000 texts", ...); it may be called from a worker thread.
    """
    if config.stream:  # a corpus read lazily: stream_prepare
        from jaxtext.data.stream_prepare import prepare_stream

        return prepare_stream(config, tokenizer, progress)
    say = progress or (lambda text: None)
    say(f"loading {describe_data(config.data)}")
    loaded = load_data(config.data, task=config.task, text_column=config.text_column,
                       label_column=config.label_column, seed=config.seed, limit=config.limit,
                       text_pair=config.text_pair)
    if tokenizer is None:
        say(f"the {config.tokenizer} tokenizer: training it on "
            f"{len(loaded.splits['train']):,} texts, or reading it from the cache")
        tokenizer = train_tokenizer(loaded, config.tokenizer, config.vocab_size, config.lowercase)
    max_len = config.max_len if per_text(config.task) else None
    say(f"tokenizing {sum(len(s) for s in loaded.splits.values()):,} texts")
    encoded = encode_splits(loaded, tokenizer, max_len, progress=say)
    task_params = {}
    if config.task == "regression":
        task_params = target_stats(encoded["train"].labels, loaded.name)
        encoded = {s: standardized(e, task_params) for s, e in encoded.items()}
    prepared = PreparedData(config, loaded, tokenizer, encoded, task_params=task_params)
    # before packing and compiling: a step too big for the memory is one line, with its size
    check_training_memory(config, vocab_size=tokenizer.vocab_size,
                          num_outputs=prepared.dims.num_outputs,
                          seq_len=_widest_batch(config, encoded))
    if config.task == "lm":
        prepared.packed = {s: pack_lm(encoded[s], config.max_len) for s in SPLITS}
        for split in SPLITS:
            if len(encoded[split].ids) == 0:
                raise DataError(
                    f"the {split} split has no text to model; give the dataset more rows "
                    f"or a '{split}' split")
    return prepared


def target_stats(targets: np.ndarray, name: str) -> dict[str, float]:
    """Mean and std of the train targets: the model learns ``(y - mean) / std``, so one lr
    suits targets in any unit. A constant target leaves nothing to learn: an error."""
    mean, std = float(np.mean(targets, dtype=np.float64)), float(np.std(targets, dtype=np.float64))
    if not std > 1e-12 * max(1.0, abs(mean)):
        raise DataError(f"{name}: every target in train is {mean:g}; regression needs targets "
                        "that vary: pass the right label_column=")
    return {"target_mean": mean, "target_std": std}


def standardized(encoded, stats: dict[str, float]):
    """An EncodedSplit whose regression targets are standardized with ``stats``."""
    labels = (encoded.labels - stats["target_mean"]) / stats["target_std"]
    return dataclasses.replace(encoded, labels=labels.astype(np.float32))


def _widest_batch(config: Config, encoded: dict[str, Any]) -> int:
    """Tokens per row of the widest batch: an lm's windows are ``max_len``; a classifier's
    batches are as wide as the bucket of its longest (truncated) text."""
    if config.task == "lm":
        return config.max_len
    longest = max((int(e.lengths.max()) for e in encoded.values() if len(e)), default=1)
    return next(w for w in bucket_widths(config.max_len) if w >= min(longest, config.max_len))
