"""Turn whatever a user passes as ``data`` into a raw ``Dataset`` / ``DatasetDict``.

``data`` may be a registered name (``"imdb"``), a ``"prefix:PATH"`` string (``hf:``,
``csv:``, ``json:``, ``parquet:``, ``text:``) or an in-memory object. Nothing is split or
cleaned here; mistakes in the spelling of ``data`` are reported with the nearest fix.
"""

from __future__ import annotations

import codecs
import glob
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from jaxtext.data.columns import _quiet
from jaxtext.errors import DataError, did_you_mean, not_utf8, shown
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
        check_name(data)
        out = dataset_registry.get(data)(seed)
        if not isinstance(out, (datasets.Dataset, datasets.DatasetDict)):
            raise DataError(
                f"dataset '{data}' returned {type(out).__name__}; a registered "
                "dataset must return a datasets.DatasetDict"
            )
        return out, data
    if isinstance(data, (datasets.Dataset, datasets.DatasetDict)):
        return data, _describe(data)
    if isinstance(data, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise DataError("a streaming dataset is read lazily only with stream: true (task lm or "
                        "classify); set it, or load the data without streaming=True")
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            name = _describe(data)
            return _from_memory(
                lambda: datasets.Dataset.from_pandas(data, preserve_index=False),
                lambda: {str(c): data[c].tolist() for c in data.columns}, name
            ), name
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(data, dict):
        name = _describe(data)
        columns = {k: _column_values(k, v, name) for k, v in data.items()}
        return _from_memory(lambda: datasets.Dataset.from_dict(columns), lambda: columns,
                            name), name
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], str):
        texts, labels = _column_values("texts", data[0]), _column_values("labels", data[1])
        if len(texts) != len(labels):
            raise DataError(
                f"(texts, labels) have different lengths ({len(texts)} and "
                f"{len(labels)}); pass one label per text"
            )
        columns, name = {"text": texts, "label": labels}, f"<{len(texts)} labeled texts>"
        return _from_memory(lambda: datasets.Dataset.from_dict(columns), lambda: columns,
                            name), name
    if isinstance(data, (list, tuple)):
        if all(isinstance(x, dict) for x in data) and data:
            name = f"<{len(data)} records>"

            def columns() -> dict[str, list]:
                keys = dict.fromkeys(k for record in data for k in record)
                return {k: [record.get(k) for record in data] for k in keys}

            return _from_memory(lambda: datasets.Dataset.from_list(list(data)), columns,
                                name), name
        if all(isinstance(x, str) for x in data):
            return datasets.Dataset.from_dict({"text": list(data)}), f"<{len(data)} texts>"
        first = data[0]
        if isinstance(first, (str, dict)):
            kind, wanted, word = (("texts", str, "strings") if isinstance(first, str)
                                  else ("records", dict, "dicts"))
            i, item = next((i, x) for i, x in enumerate(data) if not isinstance(x, wanted))
            raise DataError(
                f"a list of {kind} must hold only {word}, but item {i} is "
                f"{type(item).__name__} ({shown(item)}); convert or drop it"
            )
        raise DataError(
            f"cannot load a {type(data).__name__} of {type(first).__name__}; pass a list of "
            "texts, a list of records (dicts) or a (texts, labels) tuple"
        )
    raise DataError(
        f"cannot load data of type {type(data).__name__}; pass a dataset name, "
        "'csv:PATH' (or hf:/json:/parquet:/text:), a DataFrame, a dict of columns, "
        "a list of texts or a (texts, labels) tuple"
    )


def check_name(data: str) -> None:
    """A ``data`` string names a registered dataset or uses a known prefix; else one line
    with the nearest fix. Cheap: ``jaxtext.train`` asks it before anything is shown."""
    prefix, sep, rest = data.partition(":")
    if (sep and prefix in PREFIXES and rest) or data in dataset_registry:
        return
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
        f"unknown dataset '{data[:80]}'{hint}; use a registered name "
        f"({', '.join(dataset_registry.names())}) or a prefix "
        f"{', '.join(p + ':' for p in PREFIXES)}"
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
        with _quiet():
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
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise DataError(f"folder {spec} has no files; put {builder} files in it")
        kwargs = {"data_dir": str(path)}
    elif path.is_file() or glob.glob(str(path), recursive=True):
        files = [path] if path.is_file() else sorted(
            Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        kwargs = {"data_files": str(path)}
    else:
        raise DataError(f"file not found: {spec}; check the path (relative to {os.getcwd()})")
    if files and all(f.stat().st_size == 0 for f in files):
        what = files[0] if len(files) == 1 else f"every file of {spec}"
        raise DataError(f"{what} is empty (0 bytes); put {builder} data in it")
    try:
        with _quiet():  # no progress-bar widgets in the notebook: the dashboard says what it does
            return datasets.load_dataset(builder, **kwargs)
    except Exception as e:
        problem = next(filter(None, (_file_problem(builder, f) for f in files)), None)
        raise DataError(
            problem or f"cannot read {builder}:{spec}: {_first_line(e)}; check the file "
            f"format matches the '{builder}:' prefix"
        ) from None


def _file_problem(builder: str, file: Path) -> str | None:
    """Why a data file failed to load, when it is something we can name: empty, not UTF-8,
    or a CSV header without rows. Only asked after a failure (it reads the whole file)."""
    try:
        if file.stat().st_size == 0:
            return f"{file} is empty (0 bytes); delete it or put {builder} data in it"
        if builder == "parquet":
            return None
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset, lines = 0, 0
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                pending = decoder.getstate()[0]  # bytes of a character cut by the chunk
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as e:
                    return not_utf8(str(file), e, offset - len(pending))
                offset += len(chunk)
                lines += sum(1 for line in chunk.splitlines() if line.strip())
        if builder == "csv" and lines <= 1:
            return f"{file} has a header but no rows; add rows below the header"
        if builder == "json":
            return _json_problem(file)
    except OSError as e:
        return f"cannot read {file}: {e.strerror or type(e).__name__}"
    return None


def _json_problem(file: Path) -> str | None:
    """The first line that is neither part of one JSON document nor a JSON line."""
    import json

    text = file.read_text(encoding="utf-8")
    try:
        json.loads(text)
        return None
    except ValueError:
        pass
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                json.loads(line)
            except ValueError as e:
                return (f"{file} is neither JSON nor JSON lines: line {number}: {e.msg}; "
                        "fix that line")
    return None


def _column_values(column: str, values: Any, name: str = "") -> list:
    """A column of in-memory data as a list; a lone string or number is a mistake."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise DataError(
            f"{name + ': ' if name else ''}column '{column}' must be a list of values (one "
            f"per row), not {type(values).__name__}"
        )
    return _as_list(values)


def _from_memory(build: Callable[[], datasets.Dataset], columns: Callable[[], dict[str, list]],
                 name: str) -> datasets.Dataset:
    """``build()``, with arrow's failures on Python columns (``columns()``, read only then)
    said as the user's mistake: unequal lengths, mixed types."""
    try:
        return build()
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as e:
        raise DataError(_columns_problem(columns(), name) or (
            f"cannot build a dataset from {name} ({_first_line(e)}); pass columns of "
            "strings and labels, e.g. {'text': [...], 'label': [...]}"
        )) from None


def _columns_problem(columns: dict[str, list], name: str) -> str | None:
    """Unequal lengths or a column of mixed types (arrow columns hold one type)."""
    lengths = {str(k): len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        shown_lengths = ", ".join(f"{k}: {n}" for k, n in list(lengths.items())[:5])
        return (f"{name}: columns have different lengths ({shown_lengths}); give every "
                "column one value per row")
    for column, values in columns.items():
        types = sorted({type(v).__name__ for v in values if v is not None})
        if len(types) > 1 and not set(types) <= {"int", "float"}:
            what = "labels mix" if column == "label" else f"column '{column}' mixes"
            return (f"{name}: {what} types ({', '.join(types[:4])}); use one type for "
                    f"all of them, e.g. all str: [str(v) for v in values]")
    return None


def _as_list(values: Any) -> list:
    """A column given as a list, numpy array or pandas Series, as a list."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _describe(data: Any) -> str:
    """A short name for in-memory data, for logs and error messages."""
    if isinstance(data, datasets.DatasetDict):
        return f"<DatasetDict {', '.join(data)}>"
    if isinstance(data, dict):
        first = next(iter(data.values()), [])
        rows = f", {len(first)} rows" if hasattr(first, "__len__") else ""
        return f"<dict of {len(data)} columns{rows}>"
    return f"<{type(data).__name__} of {len(data)} rows>"


def _first_line(e: BaseException) -> str:
    """The gist of a library's exception, to quote in a one-line DataError."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
