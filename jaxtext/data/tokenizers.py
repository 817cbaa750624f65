r"""Word, character and byte-level BPE tokenizers, built on Hugging Face ``tokenizers``.

Every tokenizer reserves the same special ids, so batching and sampling code can use
constants: ``0 = <pad>``, ``1 = <unk>``, ``2 = <bos>`` (start of an LM sequence),
``3 = <eos>`` (end of a document).

A registered tokenizer is a factory ``(vocab_size, lowercase) -> (Tokenizer, trainer)``:
an untrained ``tokenizers.Tokenizer`` and what trains it, either a ``tokenizers.trainers``
object (with ``special_tokens=SPECIAL_TOKENS``, so they get ids 0-3) or a function
``(tokenizer, batches_of_texts) -> None``. A plugin is ten lines: build both, decorate
with ``@jaxtext.register_tokenizer("name")``.

Kinds:

- ``word``: HTML ``<br />`` removed, lowercased if asked; words and runs of punctuation
  are tokens (``Whitespace`` pre-tokenizer: ``\w+|[^\w\s]+``); decode joins with spaces.
- ``char``: every character is a token, whitespace included; text is kept exactly as
  written and ``lowercase`` is ignored (the config's ``lowercase`` is for word/bpe), so
  ``decode(encode(x)) == x`` for characters seen in training.
- ``bpe``: byte-level BPE (GPT-2 style); never produces ``<unk>`` and
  ``decode(encode(x)) == x`` for any text (lowercased first if ``lowercase``). Its
  vocabulary always holds the 256 byte symbols, so it is at least 260 tokens.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import __version__ as tokenizers_version

from jaxtext.errors import ConfigError
from jaxtext.registry import register_tokenizer
from jaxtext.registry import tokenizers as tokenizer_registry

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
_FORMAT = "jaxtext.tokenizer/1"
_CHAR_PATTERN = r"[\s\S]"  # any single character, newlines included
_CHUNK = 2048  # texts per encode_batch call: bounds the memory of Encoding objects
_RECIPE = "1"  # bump when tokenizer factories or encoding rules change (invalidates caches)
_TOKENIZERS_VERSION = tokenizers_version


@register_tokenizer("word")
def word_tokenizer(vocab_size: int, lowercase: bool):
    # literal replaces, not NFKC or a regex: they would double the time to encode
    steps = [normalizers.Replace("<br />", " "), normalizers.Replace("<br/>", " ")]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence(steps + ([normalizers.Lowercase()] if lowercase else []))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    return tok, trainer


@register_tokenizer("char")
def char_tokenizer(vocab_size: int, lowercase: bool):
    del lowercase  # characters are kept as written (see the module docstring)
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_CHAR_PATTERN), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return tok, functools.partial(_train_chars, vocab_size=vocab_size)


def _train_chars(tokenizer: Tokenizer, batches: Iterable[list[str]], vocab_size: int) -> None:
    """Give ``tokenizer`` the ``vocab_size`` most frequent characters (ties: code point).

    Equivalent to ``WordLevelTrainer`` on single characters, but counted with numpy:
    the trainer builds a string per character (~20 CPU-s for IMDB; this takes ~0.2 s).
    """
    counts: dict[int, int] = {}
    for batch in batches:
        codes = np.frombuffer("".join(batch).encode("utf-32-le", "surrogatepass"), np.uint32)
        for code, n in zip(*np.unique(codes, return_counts=True), strict=True):
            counts[int(code)] = counts.get(int(code), 0) + int(n)
    ranked = sorted((c for c in counts if not 0xD800 <= c < 0xE000), key=lambda c: (-counts[c], c))
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for code in ranked[: max(0, vocab_size - len(vocab))]:
        vocab.setdefault(chr(code), len(vocab))
    tokenizer.model = models.WordLevel(vocab, unk_token="<unk>")
    tokenizer.add_special_tokens(SPECIAL_TOKENS)


@register_tokenizer("bpe")
def bpe_tokenizer(vocab_size: int, lowercase: bool):
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    return tok, trainer


class TextTokenizer:
    """A trained ``tokenizers.Tokenizer`` plus its kind, with numpy in and out.

    >>> tok = TextTokenizer.train("char", ["hello world"], vocab_size=100, lowercase=False)
    >>> ids = tok.encode(["hello"])[0]
    >>> ids.dtype, tok.decode(ids)
    (dtype('int32'), 'hello')
    """

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, tokenizer: Tokenizer, kind: str):
        for i, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != i:
                raise ConfigError(
                    f"tokenizer '{kind}' must give {token} id {i}; train it with "
                    "special_tokens=jaxtext.data.SPECIAL_TOKENS"
                )
        # "<eos>" typed in a text is text, never the special id (not stored in the JSON)
        tokenizer.encode_special_tokens = True
        self.tokenizer = tokenizer
        self.kind = kind
        self._chars: np.ndarray | None = None
        self._char_lookup: tuple[np.ndarray, np.ndarray] | None = None
        self._plain_char = self._is_plain_char()

    @classmethod
    def train(
        cls, kind: str, texts: Iterable[str], vocab_size: int, lowercase: bool = True
    ) -> TextTokenizer:
        """Train a registered tokenizer kind on ``texts`` (the train split only)."""
        tokenizer, trainer = tokenizer_registry.get(kind)(vocab_size, lowercase)
        if isinstance(trainer, trainers.Trainer):
            tokenizer.train_from_iterator(_batches(texts), trainer=trainer)
        else:
            trainer(tokenizer, _batches(texts))
        return cls(tokenizer, kind)

    @property
    def vocab_size(self) -> int:
        """The actual vocabulary size (may be below the requested ``vocab_size``)."""
        return self.tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str], max_len: int | None = None) -> list[np.ndarray]:
        """Token ids of each text, int32, truncated to the first ``max_len``; no padding.

        A text with no tokens (e.g. only punctuation the tokenizer drops) encodes as
        ``[<unk>]``, so every row has at least one real token.
        """
        ids, offsets = self._encode_flat(texts)
        if max_len is not None:
            ids, offsets = truncate(ids, offsets, max_len)
        return np.split(ids, offsets[1:-1])

    def _encode_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int32) and row offsets (int64[n+1])."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in [...]")
        texts = list(texts)
        if self._plain_char:
            try:
                return self._encode_chars(texts)
            except UnicodeEncodeError:  # lone surrogates: let the tokenizer decide
                pass
        rows: list[list[int]] = []
        for start in range(0, len(texts), _CHUNK):
            encodings = self.tokenizer.encode_batch_fast(
                texts[start : start + _CHUNK], add_special_tokens=False
            )
            rows.extend(e.ids or [UNK_ID] for e in encodings)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        ids = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32, count=offsets[-1])
        return ids, offsets

    def _is_plain_char(self) -> bool:
        pre = self.tokenizer.pre_tokenizer
        return (
            self.kind == "char"
            and self.tokenizer.normalizer is None
            and isinstance(pre, pre_tokenizers.Split)
            and _infer_kind(json.loads(self.tokenizer.to_str())) == "char"
        )

    def _encode_chars(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The char tokenizer's exact ids by vectorized vocabulary lookup.

        The Hugging Face pipeline builds a Python object per character (~1 us each, 30 s
        for IMDB); a char tokenizer maps each code point to its vocabulary id, which numpy
        does in one pass. Tested equal to ``tokenizer.encode_batch``.
        """
        if self._char_lookup is None:
            pairs = sorted(
                (ord(t), i) for t, i in self.tokenizer.get_vocab().items() if len(t) == 1
            )
            self._char_lookup = (
                np.array([c for c, _ in pairs], np.uint32),
                np.array([i for _, i in pairs], np.int32),
            )
        keys, values = self._char_lookup
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        pos = np.minimum(np.searchsorted(keys, codes), len(keys) - 1)
        ids = np.where(keys[pos] == codes, values[pos], UNK_ID).astype(np.int32)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        empty = np.flatnonzero(lengths == 0)
        if len(empty):  # an empty text encodes as [<unk>], as in the general path
            ids = np.insert(ids, np.cumsum(lengths)[empty], UNK_ID)
            lengths[empty] = 1
        return ids, np.concatenate([[0], np.cumsum(lengths)])

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of ``ids``, skipping ``<pad>`` and ``<bos>``; ``<unk>``/``<eos>`` are shown."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        ids = ids[(ids != PAD_ID) & (ids != BOS_ID)]
        return self.tokenizer.decode(ids.tolist(), skip_special_tokens=False)

    def id_to_token(self, i: int) -> str:
        token = self.tokenizer.id_to_token(int(i))
        if token is None:
            raise IndexError(f"token id {i} is outside the vocabulary (size {self.vocab_size})")
        return token

    def num_chars(self, ids: Sequence[int] | np.ndarray) -> int:
        """Characters of text that ``ids`` stand for (for bits per character).

        Exact for ``char`` and ``bpe`` (a byte-level token counts the UTF-8 characters it
        starts); for ``word`` each token counts its length plus one separating space, a
        close estimate since words lose their original spacing. ``<eos>`` counts as one
        character (the document break), ``<pad>``/``<bos>`` as none, ``<unk>`` as one.
        """
        ids = np.asarray(ids, dtype=np.int64)
        return int(self._char_table()[ids].sum())

    def _char_table(self) -> np.ndarray:
        if self._chars is None:
            tokens = [self.tokenizer.id_to_token(i) or "" for i in range(self.vocab_size)]
            if self.kind == "bpe":
                byte_of = {c: b for b, c in _byte_symbols().items()}
                table = [sum(1 for c in t if not 0x80 <= byte_of.get(c, 0) < 0xC0) for t in tokens]
            elif self.kind == "word":
                table = [len(t) + 1 for t in tokens]
            else:
                table = [len(t) for t in tokens]
            table[PAD_ID], table[UNK_ID], table[BOS_ID], table[EOS_ID] = 0, 1, 0, 1
            self._chars = np.asarray(table, dtype=np.int64)
        return self._chars

    # --- persistence -------------------------------------------------------------

    def to_json(self) -> str:
        """One JSON string: ``{"format", "kind", "tokenizer": <tokenizer.json object>}``."""
        return json.dumps(
            {
                "format": _FORMAT,
                "kind": self.kind,
                "tokenizer": json.loads(self.tokenizer.to_str()),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> TextTokenizer:
        """Inverse of ``to_json``; also accepts a plain Hugging Face ``tokenizer.json``."""
        obj = json.loads(text)
        if obj.get("format") == _FORMAT:
            return cls(Tokenizer.from_str(json.dumps(obj["tokenizer"])), obj["kind"])
        return cls(Tokenizer.from_str(text), _infer_kind(obj))

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``to_json()`` to ``path`` (a folder gets ``tokenizer.json`` inside).

        The file wraps the Hugging Face tokenizer with its kind; for a file other tools
        read, use ``tok.tokenizer.save(path)``.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TextTokenizer:
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        return cls.from_json(path.read_text(encoding="utf-8"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextTokenizer) and self.to_json() == other.to_json()

    __hash__ = None  # mutable wrapper: equal by content, not hashable

    def __repr__(self) -> str:
        return f"TextTokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


def _batches(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    """Lists of texts; slices when possible (a datasets Column is slow to iterate by row)."""
    if hasattr(texts, "__len__") and hasattr(texts, "__getitem__"):
        for start in range(0, len(texts), size):
            yield list(texts[start : start + size])
    else:
        it = iter(texts)
        yield from iter(lambda: list(itertools.islice(it, size)), [])


def _infer_kind(obj: dict) -> str:
    model = obj.get("model", {}).get("type")
    if model == "BPE":
        return "bpe"
    pattern = (obj.get("pre_tokenizer") or {}).get("pattern", {})
    if model == "WordLevel" and pattern.get("Regex") == _CHAR_PATTERN:
        return "char"
    return "word" if model == "WordLevel" else "custom"


def _byte_symbols() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by byte-level BPE."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in keep else next(extra)) for b in range(256)}


def truncate(ids: np.ndarray, offsets: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first ``max_len`` ids of every row of a flat (ids, offsets) encoding."""
    lengths = np.minimum(np.diff(offsets), max_len)
    new_offsets = np.concatenate([[0], np.cumsum(lengths)])
    if new_offsets[-1] == offsets[-1]:
        return ids, offsets
    within = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], lengths)
    return ids[np.repeat(offsets[:-1], lengths) + within], new_offsets


# --- encoded splits ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """One tokenized split, stored flat: row ``i`` is ``ids[offsets[i]:offsets[i+1]]``.

    ids: int32[total_tokens], every row's tokens concatenated (no padding, no bos/eos).
    offsets: int64[rows + 1].
    labels: int32[rows] class ids (classification) or None (lm).
    num_chars: characters of text the tokens cover plus one per row for its ``<eos>``:
        for an LM, bits per character = sum of target nats / ln 2 / num_chars (every
        token of a split packed by ``pack_lm`` is a target exactly once).
    dataset: the split itself (None for texts outside a dataset); ``texts(rows)`` reads
        texts from it for display.
    """

    ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray | None
    num_chars: int
    dataset: datasets.Dataset | None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """int64[rows] tokens per row."""
        return np.diff(self.offsets)

    def tokens(self, row: int) -> np.ndarray:
        """int32 ids of one row (a view)."""
        return self.ids[self.offsets[row] : self.offsets[row + 1]]

    def texts(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """Original texts of some rows, e.g. the ``index`` of misclassified batch rows."""
        rows = [int(r) for r in np.asarray(rows).ravel() if r >= 0]
        return self.dataset.select(rows)["text"][:] if rows else []


def encode_splits(loaded, tokenizer: TextTokenizer, max_len: int | None) -> dict[str, EncodedSplit]:
    """Tokenize every split of a ``LoadedData`` once.

    max_len: tokens kept per text (classification); ``None`` keeps whole texts (lm,
        where ``pack_lm`` cuts windows). Encodings of file-backed splits (built-in and
        file datasets) are cached on disk keyed by the split's fingerprint and the
        tokenizer, so re-running a notebook cell does not re-tokenize.
    """
    out = {}
    for split, ds in loaded.splits.items():
        full_ids, full_offsets = _cached_encoding(ds, tokenizer)
        ids, offsets = (
            (full_ids, full_offsets)
            if max_len is None
            else truncate(full_ids, full_offsets, max_len)
        )
        texts = ds.with_format("arrow")["text"]
        chars = _covered_chars(texts, tokenizer, full_offsets, ids, offsets)
        labels = None
        if "label" in ds.column_names and loaded.label_names:
            labels = ds.with_format("arrow")["label"].to_numpy().astype(np.int32)
        out[split] = EncodedSplit(ids, offsets, labels, chars, ds)
    return out


def _covered_chars(texts, tokenizer, full_offsets, ids, offsets) -> int:
    """Text length of rows kept whole, the tokenizer's count for truncated ones, + eos."""
    import pyarrow.compute as pc

    chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    cut = np.diff(offsets) < np.diff(full_offsets)
    if cut.any():
        per_row = np.add.reduceat(tokenizer._char_table()[ids], offsets[:-1])
        chars = np.where(cut, per_row, chars)
    return int(chars.sum()) + len(chars)


def train_tokenizer(loaded, kind: str, vocab_size: int, lowercase: bool = True) -> TextTokenizer:
    """``TextTokenizer.train`` on ``loaded``'s train split, cached on disk when possible.

    Training on IMDB takes seconds; for file-backed splits (built-in and file datasets)
    and built-in kinds the result is stored under the datasets cache, keyed by the split's
    fingerprint and the arguments, so later runs load it in milliseconds.
    """
    train = loaded.splits["train"]
    cacheable = bool(train.cache_files) and tokenizer_registry.sources().get(kind) == "built-in"
    path = _cache_path(
        "tokenizers",
        f"{train._fingerprint}|{kind}|{vocab_size}|{lowercase}|{_TOKENIZERS_VERSION}|{_RECIPE}",
        ".json",
    )
    if cacheable and path.exists():
        try:
            return TextTokenizer.load(path)
        except Exception:  # unreadable or stale cache entry: retrain
            pass
    tok = TextTokenizer.train(kind, train["text"], vocab_size, lowercase)
    if cacheable:
        _atomic_write(path, lambda tmp: tmp.write_text(tok.to_json(), encoding="utf-8"))
    return tok


def _cached_encoding(ds: datasets.Dataset, tokenizer: TextTokenizer):
    if not ds.cache_files:  # in-memory data has no stable fingerprint: encode each time
        return tokenizer._encode_flat(ds.with_format("arrow")["text"].to_pylist())
    path = _cache_path("encoded", f"{ds._fingerprint}|{tokenizer.to_json()}|{_RECIPE}", ".npz")
    try:
        with np.load(path) as f:
            return f["ids"].astype(np.int32), f["offsets"]
    except (OSError, KeyError, ValueError):
        pass
    ids, offsets = tokenizer._encode_flat(ds.with_format("arrow")["text"].to_pylist())
    small = ids.astype(np.uint16) if tokenizer.vocab_size <= 1 << 16 else ids  # half the disk
    _atomic_write(path, lambda tmp: np.savez(tmp, ids=small, offsets=offsets))
    return ids, offsets


def _cache_path(folder: str, key: str, suffix: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(datasets.config.HF_DATASETS_CACHE) / "jaxtext" / folder / f"{digest}{suffix}"


def _atomic_write(path: Path, write) -> None:
    """Write via a temp file and rename, so concurrent runs never read a partial file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{os.getpid()}.{path.name}")
        write(tmp)
        os.replace(tmp, path)
    except OSError:  # read-only cache: fine, just slower next time
        pass
