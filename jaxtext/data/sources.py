"""Turn whatever a user passes as ``data`` into a raw ``Dataset`` / ``DatasetDict``.

``data`` may be a registered name (``"imdb"``), a ``"prefix:PATH"`` string (``hf:``,
``csv:``, ``json:``, ``parquet:``, ``text:``) or an in-memory object. Nothing is split or
cleaned here; mistakes in the spelling of ``data`` are reported with the nearest fix.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from jaxtext.errors import DataError, did_you_mean
from jaxtext.registry import datasets as dataset_registry

FILE_PREFIXES = {
    "csv": "csv",
    "json": "json",
    "jsonl": "json",
    "parquet": "parquet",
    "text": "text",
}
PREFIXES = ("hf", *FILE_PREFIXES)
_BUILDER_BY_SUFFIX = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".txt": "text",
}


def _resolve(data: Any, seed: int) -> tuple[datasets.Dataset | datasets.DatasetDict, str]:
    """Turn ``data`` into a Dataset or DatasetDict plus a short name."""
    if isinstance(data, str):
        prefix, sep, rest = data.partition(":")
        if sep and prefix in PREFIXES and rest:
            if prefix == "hf":
                return _load_hf(rest), data
            return _load_files(FILE_PREFIXES[prefix], rest), data
        if data in dataset_registry:
            out = dataset_registry.get(data)(seed)
            if not isinstance(out, (datasets.Dataset, datasets.DatasetDict)):
                raise DataError(
                    f"dataset '{data}' returned {type(out).__name__}; a registered "
                    "dataset must return a datasets.DatasetDict"
                )
            return out, data
        if sep and len(prefix) > 1:
            raise DataError(
                f"unknown data prefix '{prefix}:'{did_you_mean(prefix, PREFIXES)}; "
                f"use one of {', '.join(p + ':' for p in PREFIXES)}"
            )
        hint = did_you_mean(data, dataset_registry.names())
        if not hint and os.path.exists(data):
            ext = Path(data).suffix.lstrip(".")
            hint = f" (a file? pass '{ext if ext in FILE_PREFIXES else 'csv'}:{data}')"
        raise DataError(
            f"unknown dataset '{data}'{hint}; use a registered name "
            f"({', '.join(dataset_registry.names())}) or a prefix "
            f"{', '.join(p + ':' for p in PREFIXES)}"
        )
    if isinstance(data, (datasets.Dataset, datasets.DatasetDict)):
        return data, _describe(data)
    if isinstance(data, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise DataError("streaming datasets are not supported; load without streaming=True")
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return datasets.Dataset.from_pandas(data, preserve_index=False), _describe(data)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(data, dict):
        try:
            return datasets.Dataset.from_dict({k: _as_list(v) for k, v in data.items()}), _describe(
                data
            )
        except (pa.ArrowInvalid, ValueError, TypeError) as e:
            raise DataError(
                f"cannot build a dataset from this dict ({_first_line(e)}); pass "
                "columns of equal length, e.g. {'text': [...], 'label': [...]}"
            ) from None
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], str):
        texts, labels = _as_list(data[0]), _as_list(data[1])
        if len(texts) != len(labels):
            raise DataError(
                f"(texts, labels) have different lengths ({len(texts)} and "
                f"{len(labels)}); pass one label per text"
            )
        return datasets.Dataset.from_dict(
            {"text": texts, "label": labels}
        ), f"<{len(texts)} labeled texts>"
    if isinstance(data, (list, tuple)):
        if all(isinstance(x, dict) for x in data) and data:
            return datasets.Dataset.from_list(list(data)), f"<{len(data)} records>"
        if all(isinstance(x, str) for x in data):
            return datasets.Dataset.from_dict({"text": list(data)}), f"<{len(data)} texts>"
    raise DataError(
        f"cannot load data of type {type(data).__name__}; pass a dataset name, "
        "'csv:PATH' (or hf:/json:/parquet:/text:), a DataFrame, a dict of columns, "
        "a list of texts or a (texts, labels) tuple"
    )


def _load_hf(spec: str) -> datasets.Dataset | datasets.DatasetDict:
    """``NAME`` or ``NAME:CONFIG``: a hub id, a local data folder/file, or a save_to_disk folder."""
    name, config = spec, None
    if not os.path.exists(spec) and ":" in spec:
        name, config = spec.rsplit(":", 1)
    path = Path(name).expanduser()
    if path.is_dir() and (
        (path / "dataset_dict.json").exists()
        or ((path / "dataset_info.json").exists() and (path / "state.json").exists())
    ):
        return datasets.load_from_disk(str(path))
    builder = _BUILDER_BY_SUFFIX.get(path.suffix.lower())
    if path.is_file() and builder:
        return _load_files(builder, str(path))
    looks_local = name.startswith((".", "/", "~")) or os.sep in name.replace("/", "", 1)
    if looks_local and not path.exists():
        raise DataError(f"file not found: {name}; check the path (relative to {os.getcwd()})")
    try:
        return datasets.load_dataset(str(path) if path.exists() else name, config)
    except (DataError, KeyboardInterrupt):
        raise
    except Exception as e:  # the hub raises many types: not found, offline, gated, config
        hint = (
            "hf:NAME:CONFIG to pick a config"
            if "config" in str(e).lower()
            else ("check the dataset id or path, and that the hub is reachable")
        )
        raise DataError(f"cannot load hf:{spec}: {_first_line(e)}; {hint}") from None


def _load_files(builder: str, spec: str) -> datasets.DatasetDict:
    path = Path(spec).expanduser()
    if path.is_dir():
        if not any(p.is_file() for p in path.rglob("*")):
            raise DataError(f"folder {spec} has no files; put {builder} files in it")
        kwargs = {"data_dir": str(path)}
    elif path.is_file() or glob.glob(str(path), recursive=True):
        kwargs = {"data_files": str(path)}
    else:
        raise DataError(f"file not found: {spec}; check the path (relative to {os.getcwd()})")
    try:
        return datasets.load_dataset(builder, **kwargs)
    except Exception as e:
        raise DataError(
            f"cannot read {builder}:{spec}: {_first_line(e)}; check the file "
            f"format matches the '{builder}:' prefix"
        ) from None


def _as_list(values: Any) -> list:
    """A column given as a list, numpy array or pandas Series, as a list."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _describe(data: Any) -> str:
    """A short name for in-memory data, for logs and error messages."""
    if isinstance(data, datasets.DatasetDict):
        return f"<DatasetDict {', '.join(data)}>"
    if isinstance(data, dict):
        rows = len(next(iter(data.values()), []))
        return f"<dict of {len(data)} columns, {rows} rows>"
    return f"<{type(data).__name__} of {len(data)} rows>"


def _first_line(e: BaseException) -> str:
    """The gist of a library's exception, to quote in a one-line DataError."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
