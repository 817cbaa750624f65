"""Config -> tokenized, batch-ready data for one task (the data half of a run).

``PreparedData`` is what both the trainer and a finished ``Run`` use to make batches,
so evaluation after training goes through exactly the same path as during training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxtext.config import Config
from jaxtext.data.batching import classify_batches, lm_batches, pack_lm
from jaxtext.data.encoding import encode_splits, train_tokenizer
from jaxtext.data.load import LoadedData, load_data
from jaxtext.data.splits import SPLITS
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.errors import DataError
from jaxtext.protocols import Dims


@dataclass
class PreparedData:
    config: Config
    loaded: LoadedData
    tokenizer: TextTokenizer
    encoded: dict[str, Any]  # split -> EncodedSplit
    packed: dict[str, np.ndarray] = field(default_factory=dict)  # lm: split -> int32[N, T+1]

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def label_names(self) -> list[str]:
        return list(self.loaded.label_names)

    @property
    def dims(self) -> Dims:
        vocab = self.tokenizer.vocab_size
        outputs = len(self.label_names) if self.task == "classify" else vocab
        return Dims(vocab_size=vocab, num_outputs=outputs, max_len=self.config.max_len,
                    task=self.task, pad_id=self.tokenizer.pad_id)

    def size(self, split: str) -> int:
        if self.task == "classify":
            return len(self.encoded[split].labels)
        return int(self.packed[split].shape[0])

    def batches(self, split: str, *, epoch: int = 0, shuffle: bool = False, pad_to_multiple: int = 1):
        cfg = self.config
        if self.task == "classify":
            return classify_batches(self.encoded[split], cfg.batch_size, shuffle=shuffle,
                                    seed=cfg.seed, epoch=epoch, max_len=cfg.max_len,
                                    pad_to_multiple=pad_to_multiple)
        return lm_batches(self.packed[split], cfg.batch_size, shuffle=shuffle, seed=cfg.seed,
                          epoch=epoch, pad_to_multiple=pad_to_multiple)

    def chars(self, split: str) -> float:
        """Characters the split's tokens cover (the denominator of bits per character)."""
        return float(self.encoded[split].num_chars)


def prepare_data(config: Config, tokenizer: TextTokenizer | None = None) -> PreparedData:
    """Load, split, tokenize (training a tokenizer on train unless one is given) and pack."""
    loaded = load_data(config.data, task=config.task, text_column=config.text_column,
                       label_column=config.label_column, seed=config.seed, limit=config.limit)
    if tokenizer is None:
        tokenizer = train_tokenizer(loaded, config.tokenizer, config.vocab_size, config.lowercase)
    max_len = config.max_len if config.task == "classify" else None
    encoded = encode_splits(loaded, tokenizer, max_len)
    prepared = PreparedData(config, loaded, tokenizer, encoded)
    if config.task == "lm":
        prepared.packed = {s: pack_lm(encoded[s], config.max_len) for s in SPLITS}
        for split in SPLITS:
            if len(encoded[split].ids) == 0:
                raise DataError(
                    f"the {split} split has no text to model; give the dataset more rows "
                    f"or a '{split}' split")
    return prepared
