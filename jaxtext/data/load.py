"""Load any text dataset into fixed ``train`` / ``validation`` / ``test`` splits.

``load_data`` accepts a registered name (``"imdb"``), a ``"prefix:PATH"`` string
(``hf:``, ``csv:``, ``json:``, ``parquet:``, ``text:``) or an in-memory object, and always
returns the same shape of result: a ``datasets.DatasetDict`` whose splits have a ``text``
column (str) and, for classification, a ``label`` column (a ``ClassLabel``).
This module only orders the steps: reading ``data`` (``sources``), naming and carving
splits (``splits``), checking and cleaning columns (``cleaning``).

Splits a dataset lacks are carved out with ``SPLIT_SEED``, a fixed seed that does not
depend on the run seed, so every run and benchmark is scored on the same test set.

Cleaning rules (applied to every split, the same for every source):

- rows whose text is missing or blank are dropped, with a warning giving the count
  (silently for ``text:`` files, where blank lines are just separators);
- for classification, rows with no label are dropped the same way; a split that has no
  labels at all (e.g. an unlabeled competition ``test`` file) is dropped and re-created
  from ``train``;
- labels become ids ``0..K-1``: a ``ClassLabel`` keeps its names, any other labels
  (strings, ints, bools) are sorted and named ``str(value)``, so ``label_names[id]``
  maps a prediction back to the user's label.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np

from jaxtext.data.cleaning import _check_column, _clean_texts, _encode_labels
from jaxtext.data.columns import _labels, _rename
from jaxtext.data.sources import _resolve
from jaxtext.data.splits import SPLITS, _add_missing_splits, _named_splits, _split_indices
from jaxtext.data.targets import _encode_label_lists, _encode_numbers
from jaxtext.errors import DataError, did_you_mean
from jaxtext.tasks import LABELED, TASKS


@dataclass(frozen=True)
class LoadedData:
    """A dataset ready for tokenization.

    splits: ``train``, ``validation`` and ``test``, each with a ``text`` column and a
        ``label`` column: class ids (``ClassLabel(names=label_names)``, ``task="classify"``),
        float64 targets (``"regression"``) or lists of label names (``"multilabel"``).
    label_names: class names by id (``[]`` for ``"lm"`` and ``"regression"``).
    name: a short description of the source, for logs.
    task: the task the labels were cleaned for.
    """

    splits: datasets.DatasetDict
    label_names: list[str]
    name: str
    task: str = "classify"

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.splits.items())
        return f"LoadedData({self.name!r}, {sizes}, classes={self.label_names})"


def load_data(
    data: Any,
    *,
    task: str = "classify",
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 0,
    limit: int = 0,
    text_pair: str = "",
) -> LoadedData:
    """Load ``data`` into normalized ``train`` / ``validation`` / ``test`` splits.

    data: a registered dataset name (``"imdb"``, ``"rotten_tomatoes"``, plugins);
        ``"hf:NAME"`` / ``"hf:NAME:CONFIG"`` (a hub id, a local dataset folder or file,
        or a folder written by ``save_to_disk``); ``"csv:PATH"``, ``"json:PATH"`` (JSON or
        JSON lines), ``"parquet:PATH"``, ``"text:PATH"`` (one example per line) where PATH
        may be a file, a glob or a folder (a folder holding ``train.csv`` / ``test.csv``
        gives those splits); or in memory: a ``datasets.Dataset`` / ``DatasetDict``, a
        pandas DataFrame, a dict of columns, a list of strings (lm), a list of records
        or a tuple ``(texts, labels)``.
    seed: the run seed; it only picks the ``limit`` subset and is passed to plugin
        datasets. Splits are always made with ``SPLIT_SEED``.
    limit: keep at most this many training examples (0 = all), chosen with ``seed``
        (stratified by label for classification). Validation and test stay whole.
    text_pair: a second text column (pair tasks); it is cleaned like the texts and kept as
        ``text_pair``.

    >>> d = load_data({"text": ["good", "bad"] * 10, "label": ["pos", "neg"] * 10})
    >>> d.label_names, len(d.splits["train"]), len(d.splits["test"])
    (['neg', 'pos'], 16, 2)
    """
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, not '{task}'")
    raw, name = _resolve(data, seed)
    splits = _named_splits(raw, name)
    labeled = task in LABELED
    classify = task == "classify"
    quiet_blank = isinstance(data, str) and data.startswith("text:")

    columns = splits["train"].column_names
    _check_column("text", text_column, columns, splits["train"], name,
                  other=label_column if labeled else None)
    if labeled:
        if label_column == text_column:
            raise DataError(
                f"text_column and label_column are both '{text_column}'; "
                "pass the column holding the labels as label_column="
            )
        _check_column("label", label_column, columns, splits["train"], name, other=text_column)
    if text_pair:
        _check_pair_column(text_pair, text_column, label_column, columns, name)
    wanted = [text_column, label_column] if labeled else [text_column]
    wanted += [text_pair] if text_pair else []

    for split in list(splits):
        ds = splits[split]
        if split != "train" and any(c not in ds.column_names for c in wanted):
            warnings.warn(
                f"{name}: split '{split}' lacks column(s) "
                f"{[c for c in wanted if c not in ds.column_names]}; re-creating it "
                "from train",
                stacklevel=2,
            )
            del splits[split]
            continue
        splits[split] = _clean_texts(ds, text_column, name, split, quiet_blank,
                                     label_column=label_column if labeled else None)
        if text_pair:
            splits[split] = _clean_texts(splits[split], text_pair, name, split, quiet_blank,
                                         label_column=label_column)

    label_names: list[str] = []
    if classify:
        splits, label_names = _encode_labels(splits, label_column, name)
    elif task == "regression":
        splits = _encode_numbers(splits, label_column, name)
    elif task == "multilabel":
        splits, label_names = _encode_label_lists(splits, label_column, name)
    splits = {
        s: _rename(ds, text_column, label_column if labeled else None, text_pair or None)
        for s, ds in splits.items()
    }
    splits = _add_missing_splits(splits, name, stratify=classify)

    for split in SPLITS:
        if len(splits[split]) == 0:
            raise DataError(
                f"{name}: split '{split}' is empty; add rows to it or drop it so "
                "jaxtext carves it out of train"
            )
    if classify:
        present = np.unique(_labels(splits["train"]))
        if len(present) < 2 and len(label_names) >= 2:
            raise DataError(
                f"{name}: too few rows: after carving out validation and test, train holds "
                f"one class of {len(label_names)}; add rows (a few per class) or pass "
                "validation and test splits"
            )
        if len(present) < 2:
            only = label_names[present[0]] if len(present) else "none"
            raise DataError(
                f"{name}: label column '{label_column}' has a single class "
                f"('{only}') in train; classification needs two or more: pass "
                "the right label_column= or use task='lm'"
            )
    if limit and len(splits["train"]) > limit:
        labels = _labels(splits["train"]) if classify else None
        (keep,), _ = _split_indices(labels, len(splits["train"]), (limit,), seed)
        splits["train"] = splits["train"].select(keep)
    return LoadedData(datasets.DatasetDict({s: splits[s] for s in SPLITS}), label_names, name,
                      task)


def _check_pair_column(text_pair: str, text_column: str, label_column: str, columns: list[str],
                       name: str) -> None:
    """The second text column of a pair task exists and is neither the text nor the label."""
    if text_pair in (text_column, label_column):
        role = "text_column" if text_pair == text_column else "label_column"
        raise DataError(f"text_pair and {role} are both '{text_pair}'; pass the column "
                        "holding the second text of each pair as text_pair=")
    if text_pair not in columns:
        hint = did_you_mean(text_pair, [c for c in columns if c not in (text_column,
                                                                         label_column)])
        raise DataError(f"{name} has no text_pair column '{text_pair}'{hint} (columns: "
                        f"{', '.join(columns)}); pass the second text column as text_pair=")
