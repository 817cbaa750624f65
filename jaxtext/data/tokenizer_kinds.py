r"""The built-in tokenizer kinds ``word``, ``char`` and ``bpe``, and what a kind is.

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
from collections.abc import Iterable

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from jaxtext.data.tokenizer import _CHAR_PATTERN, SPECIAL_TOKENS
from jaxtext.registry import register_tokenizer


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
