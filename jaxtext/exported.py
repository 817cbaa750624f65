"""Load and call an export written by ``Run.export``, with jax, numpy and tokenizers only.

    model = load_exported("exports/clf")
    model.predict(["a wonderful film"])   # [{"text", "label", "probs": {label: p}}]
    model.probs(texts)                    # float32[N, classes], bit-equal to run.predict

Nothing here imports the jaxtext models, Flax or optax (a test loads an export with them
blocked): the function is StableHLO (``jax.export``), the tokenizer a Hugging Face JSON.
Without jaxtext at all, see the recipe in ``manifest.json`` and ``jaxtext/export.py``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import jax
import numpy as np

from jaxtext.errors import ConfigError, RunFolderError

FORMAT = "jaxtext.export/1"
FILES = ("manifest.json", "function.jax", "weights.npz", "tokenizer.json")


def load_exported(path: str | Path) -> ExportedClassifier:
    """The export in the folder ``path``; a missing or damaged file is one error naming it."""
    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"no export at '{path}'" if not path.exists() else
                             f"'{path}' is a file, not an export folder; pass the folder")
    files = {}
    for name in FILES:
        try:
            files[name] = (path / name).read_bytes()
        except FileNotFoundError:
            raise RunFolderError(f"'{path}' is not a complete export: {name} is missing; "
                                 "export the run again (run.export(path))") from None
        except OSError as err:
            raise RunFolderError(f"cannot read {path / name}: {err.strerror}") from None
    return ExportedClassifier(files, where=str(path))


class ExportedClassifier:
    """A classifier from an export: ``probs``, ``predict`` and the manifest's facts."""

    def __init__(self, files: dict[str, bytes], where: str = "<memory>"):
        self.where = where
        manifest = self.manifest = _read_manifest(files["manifest.json"], where)
        self.labels: list[str] = list(manifest["labels"])
        self.max_len: int = int(manifest["max_len"])
        self.batch_size: int = int(manifest["batch_size"])
        self.widths = np.asarray(manifest["widths"], np.int64)
        self._unk_id = int(manifest["tokenizer"]["unk_id"])
        try:
            exported = jax.export.deserialize(bytearray(files["function.jax"]))
        except Exception as err:  # flatbuffers / MLIR raise whatever they raise on junk
            raise _damaged(where, "function.jax", err) from None
        self._weights = _read_weights(files["weights.npz"], exported, where)
        self._call = jax.jit(exported.call)  # compiled once per (batch, width) and reused
        self._tokenizer = _read_tokenizer(files["tokenizer.json"], where)

    def probs(self, texts: str | list[str]) -> np.ndarray:
        """float32[N, classes]: each text computed as ``run.predict([text])`` computes it."""
        rows = self._encode(_texts_argument(texts))
        out = np.zeros((len(rows), len(self.labels)), np.float32)
        lengths = np.fromiter(map(len, rows), np.int64, len(rows))
        bucket = np.searchsorted(self.widths, lengths)
        pending = []  # dispatched batches, fetched together once all are queued
        for b in np.unique(bucket):
            index = np.flatnonzero(bucket == b)
            for start in range(0, len(index), self.batch_size):
                chunk = index[start:start + self.batch_size]
                tokens = np.zeros((self.batch_size, int(self.widths[b])), np.int32)
                for line, i in enumerate(chunk):
                    tokens[line, :lengths[i]] = rows[i]
                pending.append((chunk, self._call(self._weights, tokens, tokens != 0)))
        for chunk, probs in pending:
            out[chunk] = np.asarray(probs)[:len(chunk)]
        return out

    def predict(self, texts: str | list[str]) -> list[dict]:
        """One ``{"text", "label", "probs": {label: p}}`` per text (plain JSON values)."""
        texts = _texts_argument(texts)
        return [{"text": text, "label": self.labels[int(p.argmax())],
                 "probs": {name: float(x) for name, x in zip(self.labels, p, strict=True)}}
                for text, p in zip(texts, self.probs(texts), strict=True)]

    def warmup(self) -> None:
        """Compile every width now, so no request waits for a compile."""
        for width in self.widths:
            tokens = np.zeros((self.batch_size, int(width)), np.int32)
            jax.block_until_ready(self._call(self._weights, tokens, tokens != 0))

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids as ``TextTokenizer.encode(texts, max_len)`` gives them."""
        encodings = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [np.asarray(e.ids[:self.max_len] or [self._unk_id], np.int32) for e in encodings]

    def __repr__(self) -> str:
        return (f"<ExportedClassifier {self.manifest.get('model')} from {self.where}: "
                f"{', '.join(self.labels)}>")


def _texts_argument(texts) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise ConfigError(f"predict takes a text or a list of texts, not {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"predict takes a list of texts, not one holding "
                              f"{type(text).__name__} (item {i}); convert with str()")
    return texts


def _damaged(where: str, name: str, err: Exception) -> RunFolderError:
    detail = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
    return RunFolderError(f"{Path(where) / name} is damaged ({detail}); export the run again")


def _read_manifest(data: bytes, where: str) -> dict:
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise _damaged(where, "manifest.json", err) from None
    if not isinstance(manifest, dict) or "format" not in manifest:
        raise RunFolderError(f"{Path(where) / 'manifest.json'} is not a jaxtext export's "
                             "(no format)")
    if manifest["format"] != FORMAT:
        raise RunFolderError(f"{Path(where) / 'manifest.json'} is format {manifest['format']!r}; "
                             f"this jaxtext reads {FORMAT!r}: export the run again")
    missing = {"labels", "max_len", "batch_size", "widths", "tokenizer"} - set(manifest)
    if missing:
        raise _damaged(where, "manifest.json", ValueError(f"no {', '.join(sorted(missing))}"))
    return manifest


def _read_weights(data: bytes, exported, where: str) -> list:
    expected = exported.in_avals[:-2]  # the weights, then tokens and mask
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = [stored[f"w{i}"] for i in range(len(expected))]
    except Exception as err:  # zipfile, KeyError, ValueError: all mean a damaged file
        raise _damaged(where, "weights.npz", err) from None
    for i, (array, aval) in enumerate(zip(arrays, expected, strict=True)):
        if array.shape != aval.shape or array.dtype.itemsize != aval.dtype.itemsize:
            raise _damaged(where, "weights.npz", ValueError(
                f"w{i} is {array.dtype}{list(array.shape)}, function.jax takes "
                f"{aval.dtype}{list(aval.shape)}"))
        if array.dtype != aval.dtype:  # e.g. bfloat16, which .npz stores as raw 2-byte items
            arrays[i] = array.view(aval.dtype)
    return [jax.device_put(a) for a in arrays]


def _read_tokenizer(data: bytes, where: str):
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as err:  # tokenizers raises its own Exception type on bad JSON
        raise _damaged(where, "tokenizer.json", err) from None
    tokenizer.encode_special_tokens = True  # "<eos>" typed in a text is text, as in training
    return tokenizer
