"""Config -> tokenized, batch-ready data for one task (the data half of a run).

``prepare_data`` returns a ``PreparedData`` (``prepared.py``), what both the trainer and a
finished ``Run`` use to make batches; with ``stream: true`` it hands over to
``stream_prepare``, whose data is read lazily.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxtext.config import Config, describe_data
from jaxtext.data.batching import bucket_widths, pack_lm
from jaxtext.data.encoding import encode_splits, train_tokenizer
from jaxtext.data.load import load_data
from jaxtext.data.prepared import PreparedData
from jaxtext.data.splits import SPLITS
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.errors import DataError
from jaxtext.tasks import per_text
from jaxtext.training.memory import check_training_memory


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
    encoded = encode_splits(loaded, tokenizer, max_len, progress=say, keep=config.truncate)
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
