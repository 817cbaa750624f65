"""``TextTokenizer``: a trained Hugging Face tokenizer with numpy in and out, and its ids.

Every tokenizer reserves the same special ids, so batching and sampling code can use
constants: ``0 = <pad>``, ``1 = <unk>``, ``2 = <bos>`` (start of an LM sequence),
``3 = <eos>`` (end of a document). The kinds themselves (``word``, ``char``, ``bpe``
and plugins) are registered factories, see ``jaxtext.data.tokenizer_kinds``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, pre_tokenizers, trainers

from jaxtext.errors import ConfigError
from jaxtext.registry import tokenizers as tokenizer_registry
from jaxtext.truncation import truncate

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
_FORMAT = "jaxtext.tokenizer/1"
_CHAR_PATTERN = r"[\s\S]"  # the char kind's pre-tokenizer: any single character, newlines included
_CHUNK = 2048  # texts per encode_batch call: bounds the memory of Encoding objects


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

    def encode(self, texts: Sequence[str], max_len: int | None = None,
               keep: str = "head") -> list[np.ndarray]:
        """Token ids of each text, int32, cut to ``max_len`` (``keep``: which tokens, see
        ``jaxtext.truncation``); no padding.

        A text with no tokens (e.g. only punctuation the tokenizer drops) encodes as
        ``[<unk>]``, so every row has at least one real token.
        """
        ids, offsets = self._encode_flat(texts)
        if max_len is not None:
            ids, offsets = truncate(ids, offsets, max_len, keep)
        return np.split(ids, offsets[1:-1])

    def _encode_flat(self, texts: Sequence[str],
                     progress: Callable[[int, int], None] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int32) and row offsets (int64[n+1]); ``progress(done,
        total)`` hears about each chunk of texts encoded."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in [...]")
        texts = list(texts)
        if self._plain_char:
            try:
                ids, offsets = self._encode_chars(texts)
                if progress is not None:
                    progress(len(texts), len(texts))
                return ids, offsets
            except UnicodeEncodeError:  # lone surrogates: let the tokenizer decide
                pass
        rows: list[list[int]] = []
        for start in range(0, len(texts), _CHUNK):
            encodings = self.tokenizer.encode_batch_fast(
                texts[start : start + _CHUNK], add_special_tokens=False
            )
            rows.extend(e.ids or [UNK_ID] for e in encodings)
            if progress is not None:
                progress(len(rows), len(texts))
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
