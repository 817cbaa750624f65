"""Read the texts of a corpus too large for memory lazily, batch by batch (``stream: true``).

``data`` is a local ``text:`` / ``json:`` / ``csv:`` / ``parquet:`` file (or glob, or
folder), ``hf:NAME[:CONFIG]`` (read with ``datasets`` streaming: the hub, or a local file),
or a ``datasets.IterableDataset``. Nothing is loaded: ``TextStream.batches()`` reads the
``train`` split from the start each time it is called, through ``datasets`` streaming.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from jaxtext.data.columns import _quiet
from jaxtext.data.sources import _BUILDER_BY_SUFFIX, FILE_PREFIXES, _first_line
from jaxtext.errors import DataError, did_you_mean

READ_ROWS = 1000  # rows per read from the stream (one encode_batch call)
_PROBE_BYTES = 1 << 20  # bytes of the first file read to learn its bytes per row


@dataclass(frozen=True)
class TextStream:
    """A streamed dataset's ``text_column`` (and ``label_column``), read from the start
    each time.

    name: ``data`` as the user wrote it, for logs.
    files: the local files behind it ([] for the hub or an in-memory ``IterableDataset``):
        their sizes let a run estimate how many steps one pass takes.
    """

    dataset: datasets.IterableDataset
    text_column: str
    name: str
    files: tuple[Path, ...] = ()
    label_column: str | None = None  # classification: the column of labels

    def batches(self, skip: int = 0) -> Iterator[tuple[list[str], list | None]]:
        """``(texts, labels)`` of the rows with a non-blank text (and a label), in file
        order, after the first ``skip`` of them; ``labels`` is None without a label column.
        A ``ClassLabel`` column gives its names."""
        seen = 0
        for rows in self.dataset.iter(batch_size=READ_ROWS):
            texts = self._column(rows, self.text_column, "text")
            labels = self._column(rows, self.label_column, "label") \
                if self.label_column else None
            keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()
                    and (labels is None or labels[i] is not None)]
            if seen < skip:
                cut = min(skip - seen, len(keep))
                seen += cut
                keep = keep[cut:]
            if keep:
                yield [texts[i] for i in keep], (
                    None if labels is None else self._names([labels[i] for i in keep]))

    def first(self, count: int) -> tuple[list[str], list | None]:
        """The first ``count`` rows' texts and labels (fewer when the stream is shorter)."""
        texts, labels = [], []
        for some, their in self.batches():
            texts += some
            labels += their or []
            if len(texts) >= count:
                break
        return texts[:count], (labels[:count] if self.label_column else None)

    def _column(self, rows: dict, column: str, role: str) -> list:
        if column not in rows:
            raise DataError(
                f"{self.name} has no {role} column '{column}'{did_you_mean(column, rows)} "
                f"(columns: {', '.join(rows)}); pass the column holding the {role} as "
                f"{role}_column=")
        return rows[column]

    def _names(self, labels: list) -> list:
        feature = (self.dataset.features or {}).get(self.label_column)
        if isinstance(feature, datasets.ClassLabel):
            return [feature.int2str(int(v)) for v in labels]
        return labels

    def rows_estimate(self) -> int | None:
        """About how many rows the files hold (their size over the first MB's bytes per
        line; Parquet says exactly), or None when there are no local files to measure."""
        if not self.files:
            return None
        if all(f.suffix.lower() == ".parquet" for f in self.files):
            import pyarrow.parquet as pq

            return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        total = sum(f.stat().st_size for f in self.files)
        with self.files[0].open("rb") as f:
            head = f.read(_PROBE_BYTES)
        lines = head.count(b"\n") + (not head.endswith(b"\n"))
        return max(1, round(total * lines / max(len(head), 1)))


def open_stream(data: Any, text_column: str = "text",
                label_column: str | None = None) -> TextStream:
    """A ``TextStream`` over ``data``; a path that does not exist or an empty file is one
    line, here, before any thread starts."""
    if isinstance(data, datasets.IterableDatasetDict):
        if "train" not in data:
            raise DataError(f"the streamed DatasetDict has no 'train' split (splits: "
                            f"{', '.join(data)}); pass the split to train on")
        data = data["train"]
    if isinstance(data, datasets.IterableDataset):
        return TextStream(data, text_column, "<IterableDataset>", (), label_column)
    prefix, sep, rest = data.partition(":") if isinstance(data, str) else ("", "", "")
    if not (sep and rest and (prefix in FILE_PREFIXES or prefix == "hf")):
        raise DataError(
            f"stream: true reads a corpus lazily from 'text:PATH', 'json:PATH', 'csv:PATH', "
            f"'parquet:PATH', 'hf:NAME' or a datasets.IterableDataset, not "
            f"{str(data)[:60]!r}; drop stream to load it in memory")
    if prefix == "hf":
        stream = _hub_or_local(rest, data, text_column)
    else:
        builder = FILE_PREFIXES[prefix]
        files = _local_files(rest, builder)
        stream = TextStream(_stream_files(builder, files), text_column, data, files)
    return dataclasses.replace(stream, label_column=label_column)


def _hub_or_local(spec: str, name: str, text_column: str) -> TextStream:
    """``hf:`` with a local file reads that file; otherwise the hub's ``train`` split."""
    path = Path(spec).expanduser()
    builder = _BUILDER_BY_SUFFIX.get(path.suffix.lower())
    if path.is_file() and builder:
        files = _local_files(spec, builder)
        return TextStream(_stream_files(builder, files), text_column, name, files)
    hub, config = spec, None
    if not path.exists() and ":" in spec:
        hub, config = spec.rsplit(":", 1)
    if hub.startswith((".", "/", "~")) and not path.exists():
        raise DataError(f"file not found: {hub}; check the path (relative to {os.getcwd()})")
    try:
        with _quiet():
            dataset = datasets.load_dataset(hub, config, split="train", streaming=True)
    except (DataError, KeyboardInterrupt):
        raise
    except Exception as e:  # the hub raises many types: not found, offline, gated, config
        raise DataError(f"cannot stream hf:{spec}: {_first_line(e)}; check the dataset id "
                        "and that the hub is reachable") from None
    return TextStream(dataset, text_column, name)


def _local_files(spec: str, builder: str) -> tuple[Path, ...]:
    """The files ``spec`` names (a file, a glob or a folder), none of them empty."""
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True)
                       if Path(p).is_file())
    if not files:
        raise DataError(f"file not found: {spec}; check the path (relative to {os.getcwd()})")
    if all(f.stat().st_size == 0 for f in files):
        raise DataError(f"{spec} is empty (0 bytes); put {builder} data in it")
    return tuple(files)


def _stream_files(builder: str, files: tuple[Path, ...]) -> datasets.IterableDataset:
    with _quiet():
        return datasets.load_dataset(builder, data_files=[str(f) for f in files],
                                     split="train", streaming=True)
