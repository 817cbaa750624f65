"""Load and call an export written by ``Run.export``, with jax, numpy and tokenizers only.

    model = load_exported("exports/clf")
    model.predict(["a wonderful film"])   # [{"text", "label", "probs": {label: p}}]
    model.probs(texts)                    # float32[N, classes], bit-equal to run.predict
    lm = load_exported("exports/lm")
    lm.generate("Once", max_new_tokens=50, temperature=0.8, seed=0)   # == run.generate(...)

Nothing here imports the jaxtext models, Flax or optax (a test loads an export with them
blocked): the functions are StableHLO (``jax.export``), the tokenizer a Hugging Face JSON.
Without jaxtext at all, see the recipe in ``manifest.json`` and ``jaxtext/export.py``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import jax
import numpy as np

from jaxtext.errors import ConfigError, RunFolderError, text_list
from jaxtext.generate_options import check_generate_options
from jaxtext.truncation import TRUNCATIONS, truncate

FORMAT = "jaxtext.export/1"
FILES = ("manifest.json", "function.jax", "weights.npz", "tokenizer.json")
LM_FILES = ("manifest.json", "init.jax", "decode.jax", "weights.npz", "tokenizer.json")


def load_exported(path: str | Path) -> ExportedClassifier | ExportedLM:
    """The export in the folder ``path``; a missing or damaged file is one error naming it."""
    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"no export at '{path}'" if not path.exists() else
                             f"'{path}' is a file, not an export folder; pass the folder")
    files = {"manifest.json": _read_file(path, "manifest.json")}
    lm = _read_manifest(files["manifest.json"], str(path)).get("task") == "lm"
    for name in (LM_FILES if lm else FILES)[1:]:
        files[name] = _read_file(path, name)
    return (ExportedLM if lm else ExportedClassifier)(files, where=str(path))


def _read_file(path: Path, name: str) -> bytes:
    try:
        return (path / name).read_bytes()
    except FileNotFoundError:
        raise RunFolderError(f"'{path}' is not a complete export: {name} is missing; "
                             "export the run again (run.export(path))") from None
    except OSError as err:
        raise RunFolderError(f"cannot read {path / name}: {err.strerror}") from None


class ExportedClassifier:
    """A classifier from an export: ``probs``, ``predict`` and the manifest's facts."""

    def __init__(self, files: dict[str, bytes], where: str = "<memory>"):
        self.where = where
        manifest = self.manifest = _read_manifest(files["manifest.json"], where)
        self.labels: list[str] = list(manifest["labels"])
        self.max_len: int = int(manifest["max_len"])
        self.truncate: str = manifest.get("truncate", "head")  # exports before the key: head
        self.batch_size: int = int(manifest["batch_size"])
        self.widths = np.asarray(manifest["widths"], np.int64)
        self._unk_id = int(manifest["tokenizer"]["unk_id"])
        exported = _read_function(files, "function.jax", where)
        self._weights = _read_weights(files["weights.npz"], exported.in_avals[:-2], where)
        self._call = jax.jit(exported.call)  # compiled once per (batch, width) and reused
        self._tokenizer = _read_tokenizer(files["tokenizer.json"], where)

    def probs(self, texts: str | list[str]) -> np.ndarray:
        """float32[N, classes]: each text computed as ``run.predict([text])`` computes it."""
        rows = self._encode(text_list(texts))
        out = np.zeros((len(rows), len(self.labels)), np.float32)
        lengths = np.fromiter(map(len, rows), np.int64, len(rows))
        bucket = np.searchsorted(self.widths, lengths)
        pending = []  # dispatched batches, fetched together once all are queued
        for b in np.unique(bucket):
            index = np.flatnonzero(bucket == b)
            for start in range(0, len(index), self.batch_size):
                chunk = index[start:start + self.batch_size]
                width = int(self.widths[b])
                tokens = np.zeros((self.batch_size, width), np.int32)
                for line, i in enumerate(chunk):
                    tokens[line, :lengths[i]] = rows[i]
                row_lengths = np.zeros(self.batch_size, np.int64)
                row_lengths[:len(chunk)] = lengths[chunk]
                mask = np.arange(width) < row_lengths[:, None]  # as classify_batches makes it
                pending.append((chunk, self._call(self._weights, tokens, mask)))
        for chunk, probs in pending:
            out[chunk] = np.asarray(probs)[:len(chunk)]
        return out

    def predict(self, texts: str | list[str]) -> list[dict]:
        """One ``{"text", "label", "probs": {label: p}}`` per text (plain JSON values)."""
        texts = text_list(texts)
        return [{"text": text, "label": self.labels[int(p.argmax())],
                 "probs": {name: float(x) for name, x in zip(self.labels, p, strict=True)}}
                for text, p in zip(texts, self.probs(texts), strict=True)]

    def warmup(self) -> None:
        """Compile every width now, so no request waits for a compile."""
        for width in self.widths:
            tokens = np.zeros((self.batch_size, int(width)), np.int32)
            jax.block_until_ready(self._call(self._weights, tokens, tokens != 0))

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids as ``TextTokenizer.encode(texts, max_len, truncate)`` gives them."""
        encodings = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        rows = [e.ids or [self._unk_id] for e in encodings]
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
        ids = np.fromiter((i for r in rows for i in r), np.int32, count=int(offsets[-1]))
        ids, offsets = truncate(ids, offsets, self.max_len, self.truncate)
        return np.split(ids, offsets[1:-1]) if rows else []

    def __repr__(self) -> str:
        return (f"<ExportedClassifier {self.manifest.get('model')} from {self.where}: "
                f"{', '.join(self.labels)}>")


class ExportedLM:
    """A language model from an export: ``generate`` runs the exported decode steps with the
    host loop of ``jaxtext.generate``, so its samples equal ``run.generate``'s."""

    def __init__(self, files: dict[str, bytes], where: str = "<memory>"):
        self.where = where
        manifest = self.manifest = _read_manifest(files["manifest.json"], where)
        self.max_len: int = int(manifest["max_len"])
        self.limit: int | None = manifest["decode_limit"]
        self.chunk: int = int(manifest["chunk"])
        self._ids = manifest["tokenizer"]
        self._init = jax.jit(_read_function(files, "init.jax", where).call)
        decode = _read_function(files, "decode.jax", where)
        count = manifest.get("num_weights")
        if not isinstance(count, int) or not 0 < count < len(decode.in_avals):
            raise _damaged(where, "manifest.json", ValueError(f"num_weights is {count!r}"))
        self._weights = _read_weights(files["weights.npz"], decode.in_avals[:count], where)
        self._decode = jax.jit(decode.call)
        self._tokenizer = _read_tokenizer(files["tokenizer.json"], where)

    def generate(self, prompt: str = "", *, max_new_tokens: int = 200, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, num_samples: int = 1,
                 seed: int = 0) -> list[str]:
        """``num_samples`` continuations of ``prompt`` (temperature 0: greedy)."""
        top_k = check_generate_options(prompt, max_new_tokens=max_new_tokens,
                                       temperature=temperature, top_k=top_k, top_p=top_p,
                                       num_samples=num_samples, seed=seed)
        bos, eos = self._ids["bos_id"], self._ids["eos_id"]
        ids = [bos]
        if prompt:
            encoded = self._tokenizer.encode_batch_fast([prompt], add_special_tokens=False)[0]
            ids += encoded.ids or [self._ids["unk_id"]]
        total = len(ids) - 1 + max_new_tokens
        if self.limit is not None and total > self.limit:  # keep the prompt's end
            keep = self.limit - max_new_tokens
            if keep < 1:
                raise ConfigError(f"max_new_tokens={max_new_tokens} exceeds what this model can "
                                  f"decode ({self.limit} positions); ask for fewer tokens")
            ids = [bos, *ids[1:][-(keep - 1):]] if keep > 1 else [bos]
            total = len(ids) - 1 + max_new_tokens
        steps = -(-total // self.chunk) * self.chunk
        rows = max(2, 1 << (num_samples - 1).bit_length())  # as generate(): one compiled shape
        forced = np.full((steps, rows), -1, np.int32)
        forced[:len(ids) - 1] = np.asarray(ids[1:], np.int32)[:, None]
        token = np.full((rows,), ids[0], np.int32)
        cache, position = self._init(token), np.int32(0)
        key = jax.random.key_data(jax.random.key(seed))
        options = (np.float32(temperature), np.int32(top_k), np.float32(top_p))
        tokens = []
        for c in range(0, steps, self.chunk):
            cache, token, position, key, chunk, _ = self._decode(
                self._weights, cache, token, position, forced[c:c + self.chunk], key, *options)
            tokens.append(chunk)
        start = len(ids) - 1
        out = np.concatenate(jax.device_get(tokens), axis=1)[:num_samples,
                                                              start:start + max_new_tokens]
        texts = []
        for row in out:
            stops = np.flatnonzero(row == eos)
            row = row[:stops[0]] if len(stops) else row
            row = row[(row != self._ids["pad_id"]) & (row != bos)]
            texts.append(self._tokenizer.decode(row.tolist(), skip_special_tokens=False))
        return texts

    def __repr__(self) -> str:
        return f"<ExportedLM {self.manifest.get('model')} from {self.where}>"

    def warmup(self) -> None:
        """Compile the decode steps for one sample now, so no request waits for it."""
        self.generate("", max_new_tokens=1)


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
    needed = {"max_len", "decode_limit", "chunk", "tokenizer"} if manifest.get("task") == "lm" \
        else {"labels", "max_len", "batch_size", "widths", "tokenizer"}
    missing = needed - set(manifest)
    if missing:
        raise _damaged(where, "manifest.json", ValueError(f"no {', '.join(sorted(missing))}"))
    if manifest.get("truncate", "head") not in TRUNCATIONS:
        raise _damaged(where, "manifest.json", ValueError(
            f"truncate {manifest['truncate']!r} is not one of {', '.join(TRUNCATIONS)}"))
    return manifest


def _read_function(files: dict, name: str, where: str):
    try:
        return jax.export.deserialize(bytearray(files[name]))
    except Exception as err:  # flatbuffers / MLIR raise whatever they raise on junk
        raise _damaged(where, name, err) from None


def _read_weights(data: bytes, expected, where: str) -> list:
    """The arrays of weights.npz, checked against the avals the function takes."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = [stored[f"w{i}"] for i in range(len(expected))]
    except Exception as err:  # zipfile, KeyError, ValueError: all mean a damaged file
        raise _damaged(where, "weights.npz", err) from None
    for i, (array, aval) in enumerate(zip(arrays, expected, strict=True)):
        if array.shape != aval.shape or array.dtype.itemsize != aval.dtype.itemsize:
            raise _damaged(where, "weights.npz", ValueError(
                f"w{i} is {array.dtype}{list(array.shape)}, the function takes "
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
