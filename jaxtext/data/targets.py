"""Check and clean the label column of a regression or multi-label dataset.

``regression``: the column must hold numbers (ints, floats, or strings that read as numbers);
it becomes ``float64``. ``multilabel``: the column must hold a list of labels per row (an empty
list is a text no label applies to); the labels become strings, named ``str(value)`` and sorted,
like classification's. Rows whose label is missing are dropped with a warning, and any other
value is one ``DataError`` naming the column, the split, the row and the value.
"""

from __future__ import annotations

import math
import warnings

import datasets
import numpy as np

from jaxtext.data.columns import _column, _quiet
from jaxtext.errors import DataError, shown

_LISTS = tuple(t for t in (getattr(datasets, "List", None), getattr(datasets, "LargeList", None),
                          datasets.Sequence) if isinstance(t, type))


def _encode_numbers(splits: dict, column: str, name: str) -> dict:
    """The label column of every split as float64; a value that is not a number is an error."""
    out = {}
    for split, ds in splits.items():
        values = _column(ds, column).to_pylist()
        numbers = np.array([_number(v, column, split, i, name) for i, v in enumerate(values)])
        missing = np.isnan(numbers)
        ds = _without_missing(ds, missing, split, name, "target", train_empty=(
            f"{name}: label column '{column}' is empty in train; pass the column holding the "
            "numbers to predict as label_column="))
        if ds is not None:
            out[split] = _replace(ds, column, numbers[~missing], datasets.Value("float64"))
    return out


def _number(value, column: str, split: str, row: int, name: str) -> float:
    """One target as a float; None/NaN/blank -> NaN (missing); anything else -> DataError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or math.isinf(number):
        raise DataError(f"{name}: label column '{column}' must hold numbers for task "
                        f"'regression', but row {row} of split '{split}' holds {shown(value)}; "
                        "fix or drop that row (or pick the right label_column=)")
    return number


def _encode_label_lists(splits: dict, column: str, name: str) -> tuple[dict, list[str]]:
    """The label column of every split as lists of label names; returns (splits, names)."""
    rows = {}
    for split, ds in splits.items():
        values = _column(ds, column).to_pylist()
        first = next((v for v in values if v is not None), None)
        if not isinstance(ds.features[column], _LISTS) and first is not None:  # all None: missing
            raise DataError(
                f"{name}: label column '{column}' holds {type(first).__name__} values in split "
                f"'{split}' (e.g. {shown(first)}); task 'multilabel' needs a list of labels per "
                "row, e.g. ['drama', 'comedy'] (split a string: df[col].str.split('|'))")
        rows[split] = [_labels_of(v, column, split, i, name) for i, v in enumerate(values)]
    names = sorted({label for row in rows["train"] if row for label in row})
    if not names:
        raise DataError(f"{name}: every label list in column '{column}' of train is empty; "
                        "multilabel needs texts with labels: pass the right label_column=")
    out = {}
    for split, ds in splits.items():
        missing = np.array([r is None for r in rows[split]], bool)
        ds = _without_missing(ds, missing, split, name, "label list", train_empty=(
            f"{name}: label column '{column}' is empty in train"))
        if ds is None:
            continue
        kept = [r for r in rows[split] if r is not None]
        unknown = sorted({label for r in kept for label in r} - set(names))
        if unknown:
            warnings.warn(f"{name}: split '{split}' has labels train lacks ({', '.join(unknown[:5])}"
                          "); the model cannot learn them, so they are ignored", stacklevel=3)
        out[split] = _replace(ds, column, [[label for label in r if label in names] for r in kept],
                              datasets.Sequence(datasets.Value("string")))
    return out, names


def _labels_of(value, column: str, split: str, row: int, name: str) -> list[str] | None:
    """One row's labels as strings (duplicates dropped); None when missing."""
    if value is None:
        return None
    labels = []
    for item in value:
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        if not isinstance(item, (str, int)) or isinstance(item, bool) or item == "":
            raise DataError(f"{name}: label lists in column '{column}' must hold class names "
                            f"(str or int), but row {row} of split '{split}' holds "
                            f"{shown(item)}; fix or drop that row")
        labels.append(str(item))
    return list(dict.fromkeys(labels))


def _without_missing(ds: datasets.Dataset, missing: np.ndarray, split: str, name: str,
                     what: str, *, train_empty: str) -> datasets.Dataset | None:
    """``ds`` without its rows lacking a ``what`` (with a warning); None when every row lacks
    one (the split is re-created from train; for train itself: DataError ``train_empty``)."""
    if missing.all():
        if split == "train":
            raise DataError(train_empty)
        warnings.warn(f"{name}: split '{split}' has no {what}s; re-creating it from train",
                      stacklevel=4)
        return None
    if missing.any():
        warnings.warn(f"{name}: dropped {int(missing.sum())} of {len(ds)} rows without a {what} "
                      f"from split '{split}'", stacklevel=4)
        return ds.select(np.flatnonzero(~missing))
    return ds


def _replace(ds: datasets.Dataset, column: str, values, feature) -> datasets.Dataset:
    """``ds`` with ``column`` replaced by ``values`` typed as ``feature``."""
    with _quiet():
        ds = ds.flatten_indices() if ds._indices is not None else ds
        ds = ds.remove_columns(column).add_column(column, list(values) if not isinstance(
            values, np.ndarray) else values)
        return ds.cast_column(column, feature)
