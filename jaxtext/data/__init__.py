"""Data: load a dataset into fixed splits, tokenize it once, cut fixed-shape numpy batches.

Typical use::

    loaded = load_data("imdb")                              # train / validation / test
    tok = train_tokenizer(loaded, "word", vocab_size=30000, lowercase=True)  # cached
    encoded = encode_splits(loaded, tok, max_len=256)       # lm: max_len=None
    batches = classify_batches(encoded["train"], 64, shuffle=True, seed=0, epoch=0, max_len=256)
    # lm: lm_batches(pack_lm(encoded["train"], seq_len), 64, shuffle=True, seed=0, epoch=0)
"""

from jaxtext.data.batching import (
    Batch,
    LMBatch,
    bucket_widths,
    classify_batches,
    lm_batches,
    pack_lm,
    padding_fraction,
)
from jaxtext.data.encoding import EncodedSplit, encode_splits, train_tokenizer
from jaxtext.data.load import LoadedData, load_data
from jaxtext.data.splits import SPLIT_SEED
from jaxtext.data.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    TextTokenizer,
)

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "SPECIAL_TOKENS",
    "SPLIT_SEED",
    "UNK_ID",
    "Batch",
    "EncodedSplit",
    "LMBatch",
    "LoadedData",
    "TextTokenizer",
    "bucket_widths",
    "classify_batches",
    "encode_splits",
    "lm_batches",
    "load_data",
    "pack_lm",
    "padding_fraction",
    "train_tokenizer",
]
