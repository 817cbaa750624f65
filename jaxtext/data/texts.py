"""Texts from outside a run's splits (``predict``, ``evaluate`` on new data), made batch-ready."""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxtext.data.encoding import EncodedSplit
from jaxtext.data.load import load_data
from jaxtext.data.pairs import join_pairs
from jaxtext.data.sources import _column_values
from jaxtext.errors import DataError
from jaxtext.tasks import LABELED


def encode_texts(tokenizer, texts: list, max_len: int | None, labels=None,
                 keep: str = "head") -> EncodedSplit:
    """An EncodedSplit for texts outside any dataset (predict, evaluate on new data), cut
    to ``max_len`` as the run's splits were (``keep``: its ``truncate`` key); ``texts``
    may be ``(text, text_pair)`` tuples (a pair task's rows: ``a <eos> b``)."""
    if texts and isinstance(texts[0], tuple):
        first = tokenizer._encode_flat([a for a, _ in texts])
        ids, offsets = join_pairs(first, tokenizer._encode_flat([b for _, b in texts]), max_len,
                                  keep)
        return EncodedSplit(ids, offsets, labels, len(ids), None)
    rows = tokenizer.encode(texts, max_len, keep)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    ids = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    chars = sum(len(t) for t in texts) + len(texts)
    return EncodedSplit(ids, offsets, labels, chars, None)


def all_rows(data: Any, *, task: str, text_column: str, label_column: str,
             text_pair: str = ""):
    """(texts, labels by name) of every row of ``data``, whatever its form.

    In-memory tables are read directly (no splitting, so a handful of rows works);
    names and paths go through ``load_data`` and all three splits are used. With
    ``text_pair`` each text is a ``(text, text_pair)`` tuple.
    """
    texts, labels = _rows(data, task=task, text_column=text_column, label_column=label_column,
                          text_pair=text_pair)
    if not texts:
        raise DataError("no rows to evaluate: the data is empty; pass texts (and labels)")
    if task in LABELED and len(labels) != len(texts):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels; pass one label per text")
    return texts, labels


def _rows(data: Any, *, task: str, text_column: str, label_column: str, text_pair: str):
    import datasets
    import pandas as pd

    if isinstance(data, tuple) and len(data) == 2:
        texts, labels = _column_values("texts", data[0]), _column_values("labels", data[1])
        return [pair_of(t) if text_pair else str(t) for t in texts], labels
    if isinstance(data, list) and task == "lm":
        return [str(t) for t in data], []
    if isinstance(data, (pd.DataFrame, dict, datasets.Dataset)):
        columns = data if not isinstance(data, pd.DataFrame) else {c: data[c] for c in data}
        names = list(columns.column_names if isinstance(data, datasets.Dataset) else columns)
        wanted = (text_column,) + ((label_column,) if task in LABELED else ()) + (
            (text_pair,) if text_pair else ())
        for column in wanted:
            if column not in names:
                raise DataError(f"column '{column}' not found; columns: "
                                f"{', '.join(map(str, names))}")
        texts = [str(t) for t in _column_values(text_column, columns[text_column])]
        if text_pair:
            seconds = [str(t) for t in _column_values(text_pair, columns[text_pair])]
            texts = list(zip(texts, seconds, strict=True))
        if task not in LABELED:
            return texts, []
        labels = _column_values(label_column, columns[label_column])
        if isinstance(data, datasets.Dataset):
            feature = data.features[label_column]
            if isinstance(feature, datasets.ClassLabel):
                labels = [feature.int2str(int(i)) for i in labels]
        return texts, labels
    loaded = load_data(data, task=task, text_column=text_column, label_column=label_column,
                       text_pair=text_pair)
    texts, labels = [], []
    for split in loaded.splits.values():
        texts += list(zip(split["text"], split["text_pair"], strict=True)) if text_pair \
            else list(split["text"])
        if task == "classify":
            labels += [loaded.label_names[int(i)] for i in split["label"]]
        elif task in LABELED:
            labels += list(split["label"])
    return texts, labels


def pair_of(value: Any) -> tuple[str, str]:
    """One example of a pair task as ``(text, text_pair)``; anything else is a DataError."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(x, str) for x in value):
        return (value[0], value[1])
    raise DataError(f"this run reads pairs of texts: pass (text, text_pair) tuples such as "
                    f"('a man sleeps', 'a person rests'), not {type(value).__name__} "
                    f"({str(value)[:60]!r})")
