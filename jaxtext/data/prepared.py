"""``PreparedData``: a run's tokenized, batch-ready data, as ``prepare_data`` returns it.

Both the trainer and a finished ``Run`` make batches through it, so evaluation after
training goes through exactly the same path as during training. A streamed corpus is a
subclass (``stream_prepare.StreamingData``) whose train split is read lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxtext.config import Config
from jaxtext.data.batching import classify_batches, lm_batches
from jaxtext.data.load import LoadedData
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.protocols import Dims
from jaxtext.tasks import per_text


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
