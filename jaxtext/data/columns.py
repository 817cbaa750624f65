"""Read and rewrite columns of a ``datasets.Dataset`` cheaply and quietly.

Loading calls these on every split: arrow reads avoid building a Python object per row,
and internal rewrites should not flash progress bars the user did not ask for.
"""

from __future__ import annotations

import contextlib

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _column(ds: datasets.Dataset, column: str) -> pa.ChunkedArray:
    """One column as arrow, honoring any indices mapping (select/filter) without copying."""
    return ds.with_format("arrow")[column]


def _labels(ds: datasets.Dataset, column: str = "label") -> np.ndarray:
    """int64 label ids, -1 where missing."""
    return pc.fill_null(_column(ds, column), -1).to_numpy().astype(np.int64)


def _set_labels(ds, column, ids, feature):
    """Replace ``column`` with the int ids ``ids`` typed as ``feature``."""
    with _quiet():
        ds = ds.flatten_indices() if ds._indices is not None else ds
        ds = ds.remove_columns(column).add_column(column, ids.astype(np.int64))
        return ds.cast_column(column, feature)


def _rename(ds: datasets.Dataset, text_column: str, label_column: str | None,
            text_pair: str | None = None):
    """Keep only the text (label, second text) columns, renamed ``text`` (``label``,
    ``text_pair``)."""
    keep = [text_column] + ([label_column] if label_column else []) + (
        [text_pair] if text_pair else [])
    ds = ds.select_columns(keep)
    temp = {c: f"__jaxtext_{i}" for i, c in enumerate(keep)}  # the two names may be swapped
    ds = ds.rename_columns(temp)
    final = {temp[text_column]: "text"}
    if label_column:
        final[temp[label_column]] = "label"
    if text_pair:
        final[temp[text_pair]] = "text_pair"
    return ds.rename_columns(final)


@contextlib.contextmanager
def _quiet():
    """Hide datasets' progress bars for internal steps, restoring the user's setting."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
