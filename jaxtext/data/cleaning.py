"""Check and clean the text and label columns, the same way for every source.

Users pass data in many shapes with columns of many names and types; these checks turn
the common mistakes (a wrong column name, numbers where text should be, blank rows,
unlabeled rows, string labels) into one clear ``DataError`` or warning, and leave a
``text`` column of strings and a ``label`` column of ids ``0..K-1``.
"""

from __future__ import annotations

import warnings

import datasets
import numpy as np
import pyarrow.compute as pc

from jaxtext.data.columns import _column, _labels, _set_labels
from jaxtext.errors import DataError, did_you_mean

_STRINGS = ("string", "large_string")


def _check_column(role: str, column: str, columns: list[str], ds: datasets.Dataset, name: str,
                  other: str | None = None):
    """Raise a DataError naming the likely right column if ``column`` is not in ``columns``.

    ``other``: the column of the other role (labels when checking texts), never suggested.
    """
    if column in columns:
        return
    hint = did_you_mean(column, [c for c in columns if c != other])
    guess = hint.split("'")[1] if hint else _guess_column(role, ds, exclude=(other,))
    fix = f"pass {role}_column='{guess}'" if guess else f"pass {role}_column=<one of them>"
    if role == "label" and not guess and len(columns) == 1:
        fix = "pass labels too, e.g. data=(texts, labels), or use task='lm'"
    raise DataError(
        f"{name} has no {role} column '{column}'{hint} (columns: "
        f"{', '.join(columns) or 'none'}); {fix}"
    )


def _guess_column(role: str, ds: datasets.Dataset, exclude=()) -> str | None:
    """The column that most likely holds the texts (``role="text"``) or the labels.

    Texts: the string column (not in ``exclude``) with the longest non-blank values; none
    when every string column is blank, so an error never points at an empty column.
    """
    if role == "text":
        lengths = {}
        for col, feature in ds.features.items():
            is_str = isinstance(feature, datasets.Value) and feature.dtype in _STRINGS
            if is_str and col not in exclude:
                trimmed = pc.utf8_length(pc.utf8_trim_whitespace(_column(ds, col)))
                lengths[col] = pc.mean(trimmed).as_py() or 0
        best = max(lengths, key=lengths.get, default=None)
        return best if best is not None and lengths[best] > 0 else None
    for col, feature in ds.features.items():
        if isinstance(feature, datasets.ClassLabel) and col not in exclude:
            return col
    for col in ds.column_names:
        if role == "label" and col.lower() in (
            "label",
            "labels",
            "class",
            "target",
            "sentiment",
            "category",
            "y",
        ):
            return col
    return None


def _clean_texts(ds: datasets.Dataset, column: str, name: str, split: str, quiet: bool,
                 label_column: str | None = None):
    """Check the text column holds strings; drop rows with missing or blank text."""
    feature = ds.features[column]

    def fix(otherwise: str) -> str:  # only on errors: it reads every string column
        guess = _guess_column("text", ds, exclude=(column, label_column))
        return f"pass text_column='{guess}'" if guess else otherwise

    if not (isinstance(feature, datasets.Value) and feature.dtype in _STRINGS):
        kind = feature.dtype if isinstance(feature, datasets.Value) else type(feature).__name__
        holds = "no values (all missing)" if kind == "null" else f"{kind}, not text"
        raise DataError(f"{name}: column '{column}' holds {holds}; "
                        + fix("pass the column of texts as text_column="))
    texts = _column(ds, column)
    blank = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), True)
    n_blank = pc.sum(blank).as_py() or 0
    if n_blank:
        if n_blank == len(ds):
            raise DataError(f"{name}: every text in column '{column}' of split '{split}' is "
                            f"empty ({len(ds)} rows); " + fix("put the texts in it"))
        if not quiet:
            warnings.warn(
                f"{name}: dropped {n_blank} of {len(ds)} rows with empty text from split '{split}'",
                stacklevel=3,
            )
        ds = ds.select(np.flatnonzero(~blank.to_numpy(zero_copy_only=False)))
    return ds


def _encode_labels(splits: dict, column: str, name: str) -> tuple[dict, list[str]]:
    """Make the label column a ClassLabel with ids 0..K-1, consistent across splits."""
    feature = splits["train"].features[column]
    for split, ds in splits.items():
        kind = ds.features[column]
        if not isinstance(kind, (datasets.ClassLabel, datasets.Value)):
            holds = "records" if isinstance(kind, dict) else "lists"
            raise DataError(
                f"{name}: label column '{column}' holds {holds} in split '{split}'; "
                "classification needs one class label (a str or int) per row"
                + ("; for several labels per text use task: multilabel" if holds == "lists"
                   else "")
            )
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
    else:
        values = set()
        for split, ds in splits.items():
            if isinstance(ds.features[column], datasets.ClassLabel):
                raise DataError(
                    f"{name}: split '{split}' has a ClassLabel '{column}' but "
                    "train does not; give every split the same label type"
                )
            values.update(pc.unique(_column(ds, column)).to_pylist())
        values.discard(None)
        if any(isinstance(v, float) and not v.is_integer() for v in values):
            raise DataError(
                f"{name}: label column '{column}' holds fractional numbers; "
                "classification needs class labels: to predict numbers use task: regression"
            )
        try:
            ordered = sorted(values)
        except TypeError:
            raise DataError(
                f"{name}: label column '{column}' mixes types "
                f"({', '.join(sorted({type(v).__name__ for v in values}))}); "
                "use one type for all labels"
            ) from None
        names = [str(int(v)) if isinstance(v, float) else str(v) for v in ordered]
    label_feature = datasets.ClassLabel(names=names)

    out = {}
    for split, ds in splits.items():
        feature = ds.features[column]
        if isinstance(feature, datasets.ClassLabel):
            ids = _labels(ds, column)
            if list(feature.names) != names:  # same classes, other order: map by name
                by_name = {n: i for i, n in enumerate(names)}
                remap = np.array([by_name.get(n, -1) for n in feature.names] + [-1])
                ids = remap[ids]  # -1 stays -1 (the last entry)
            else:
                ids = None if (ids >= 0).all() else ids
        else:
            table = {v: i for i, v in enumerate(ordered)}
            ids = np.array(
                [-1 if v is None else table[v] for v in _column(ds, column).to_pylist()],
                dtype=np.int64,
            )
        if ids is not None:
            missing = ids < 0
            if missing.all() and len(ds):
                if split == "train":
                    raise DataError(
                        f"{name}: label column '{column}' is empty in train; pass "
                        "the column holding the labels as label_column="
                    )
                warnings.warn(
                    f"{name}: split '{split}' has no labels; re-creating it from train",
                    stacklevel=3,
                )
                continue
            if missing.any():
                warnings.warn(
                    f"{name}: dropped {int(missing.sum())} of {len(ds)} rows "
                    f"without a label from split '{split}'",
                    stacklevel=3,
                )
                ds, ids = ds.select(np.flatnonzero(~missing)), ids[~missing]
            ds = _set_labels(ds, column, ids, label_feature)
        out[split] = ds
    return out, names
