"""Tests for jaxtext.data: sources, tokenizers, batching. Fast: small data, IMDB from cache."""

from __future__ import annotations

import json
from collections import Counter

import datasets
import numpy as np
import pandas as pd
import pytest

from jaxtext.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    LoadedData,
    TextTokenizer,
    bucket_widths,
    classify_batches,
    encode_splits,
    lm_batches,
    load_data,
    pack_lm,
    padding_fraction,
    train_tokenizer,
)
from jaxtext.errors import DataError
from jaxtext.registry import register_dataset

SPAM = {
    "text": [f"win money now {i}" for i in range(30)]
    + [f"see you at lunch {i}" for i in range(30)],
    "label": ["spam"] * 30 + ["ham"] * 30,
}


@pytest.fixture(scope="module")
def imdb():
    return load_data("imdb")


# --- built-in datasets ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, sizes", [("imdb", (18_000, 2_000, 5_000)), ("rotten_tomatoes", (6_398, 1_066, 1_066))]
)
def test_builtin_splits_are_fixed_stratified_and_disjoint(name, sizes):
    a = load_data(name, seed=0)
    b = load_data(name, seed=123)  # the run seed must not move the split
    assert tuple(len(a.splits[s]) for s in ("train", "validation", "test")) == sizes
    assert a.label_names == ["negative", "positive"]
    assert a.splits["test"].features["label"] == datasets.ClassLabel(names=a.label_names)
    texts = {s: a.splits[s]["text"][:] for s in a.splits}
    for s in a.splits:
        assert b.splits[s]["text"][:] == texts[s]
        counts = Counter(a.splits[s]["label"][:])
        assert abs(counts[0] - counts[1]) <= 1  # stratified: balanced like the source
    # rows are disjoint; a text may only repeat across splits if the source repeats it
    everything = Counter(t for s in texts for t in texts[s])
    for x, y in [("train", "test"), ("train", "validation"), ("validation", "test")]:
        assert all(everything[t] > 1 for t in set(texts[x]) & set(texts[y]))
    if name == "imdb":
        assert not any("<br" in t for t in texts["train"][:2000])


def test_limit_keeps_a_seeded_stratified_subset(imdb):
    small = load_data("imdb", limit=100, seed=1)
    assert len(small.splits["train"]) == 100
    assert Counter(small.splits["train"]["label"][:]) == {0: 50, 1: 50}
    assert small.splits["test"]["text"][:] == imdb.splits["test"]["text"][:]
    again = load_data("imdb", limit=100, seed=1).splits["train"]["text"][:]
    other = load_data("imdb", limit=100, seed=2).splits["train"]["text"][:]
    assert again == small.splits["train"]["text"][:] and other != again


# --- every input form ----------------------------------------------------------------


def _check_spam(loaded):
    assert loaded.label_names == ["ham", "spam"]
    assert sum(len(s) for s in loaded.splits.values()) == 60
    for split in loaded.splits.values():
        assert split.column_names == ["text", "label"]
        for text, label in zip(split["text"][:], split["label"][:], strict=True):
            assert loaded.label_names[label] == ("spam" if text.startswith("win") else "ham")


def test_files_of_every_format_load(tmp_path):
    df = pd.DataFrame(SPAM)
    df.to_csv(tmp_path / "spam.csv", index=False)
    df.to_json(tmp_path / "spam.jsonl", orient="records", lines=True)
    (tmp_path / "spam.json").write_text(json.dumps(df.to_dict(orient="records")))
    df.to_parquet(tmp_path / "spam.parquet")
    for spec in ["csv:spam.csv", "json:spam.jsonl", "json:spam.json", "parquet:spam.parquet"]:
        prefix, name = spec.split(":")
        loaded = load_data(f"{prefix}:{tmp_path / name}")
        _check_spam(loaded)
        assert [len(loaded.splits[s]) for s in ("train", "validation", "test")] == [48, 6, 6]


def test_text_files_are_one_example_per_line(tmp_path):
    lines = [f"line number {i}" for i in range(40)]
    (tmp_path / "a.txt").write_text("\n".join(lines[:20]) + "\n\n")  # blank lines are dropped
    (tmp_path / "b.txt").write_text("\n".join(lines[20:]))
    for spec in [tmp_path / "a.txt", tmp_path / "*.txt", tmp_path]:
        loaded = load_data(f"text:{spec}", task="lm")
        assert loaded.label_names == []
        got = sorted(t for s in loaded.splits.values() for t in s["text"][:])
        want = lines[:20] if spec == tmp_path / "a.txt" else lines
        assert got == sorted(want)


def test_hf_prefix_reads_local_folders(tmp_path):
    ds = datasets.Dataset.from_dict(SPAM)
    datasets.DatasetDict(
        {"train": ds.select(range(0, 60, 2)), "test": ds.select(range(1, 60, 2))}
    ).save_to_disk(tmp_path / "saved")
    loaded = load_data(f"hf:{tmp_path / 'saved'}")
    _check_spam(loaded)
    assert len(loaded.splits["test"]) == 30  # kept; validation carved out of train
    assert len(loaded.splits["validation"]) == 3 and len(loaded.splits["train"]) == 27

    ds.save_to_disk(tmp_path / "single")  # a save_to_disk Dataset, not a dict
    _check_spam(load_data(f"hf:{tmp_path / 'single'}"))

    (tmp_path / "csvs").mkdir()
    pd.DataFrame(SPAM).iloc[:50].to_csv(tmp_path / "csvs" / "train.csv", index=False)
    pd.DataFrame(SPAM).iloc[50:].to_csv(tmp_path / "csvs" / "test.csv", index=False)
    for spec in [f"hf:{tmp_path / 'csvs'}", f"csv:{tmp_path / 'csvs'}"]:
        loaded = load_data(spec, label_column="label")
        assert len(loaded.splits["test"]) == 10 and loaded.label_names == ["ham", "spam"]


def test_hf_hub_ids_and_configs_go_to_load_dataset(monkeypatch):
    calls = []

    def fake_load_dataset(name, config=None, **kwargs):
        calls.append((name, config))
        ds = datasets.Dataset.from_dict(SPAM)
        return datasets.DatasetDict({"train": ds, "unsupervised": ds})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_data("hf:someone/spam:small")
    load_data("hf:someone/spam")
    assert calls == [("someone/spam", "small"), ("someone/spam", None)]
    assert [len(loaded.splits[s]) for s in ("train", "validation", "test")] == [
        48,
        6,
        6,
    ]


def test_plugin_datasets_get_the_run_seed():
    from jaxtext.registry import datasets as registry

    seen = []

    @register_dataset("tiny_spam")
    def tiny_spam(seed):
        seen.append(seed)
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict(SPAM)})

    try:
        _check_spam(load_data("tiny_spam", seed=7))
        assert seen == [7]
    finally:
        registry.unregister("tiny_spam")


def test_in_memory_forms_load():
    ds = datasets.Dataset.from_dict(SPAM)
    _check_spam(load_data(ds))
    _check_spam(load_data(pd.DataFrame(SPAM)))
    _check_spam(load_data(dict(SPAM)))
    _check_spam(load_data((SPAM["text"], SPAM["label"])))
    _check_spam(load_data([{"text": t, "label": y} for t, y in zip(*SPAM.values(), strict=True)]))
    named = datasets.DatasetDict({"train": ds.select(range(0, 60, 3)), "dev": ds.select(range(1, 60, 3)),
                                  "test": ds.select(range(2, 60, 3))})  # fmt: skip
    loaded = load_data(named)
    assert [len(loaded.splits[s]) for s in ("train", "validation", "test")] == [20, 20, 20]
    lm = load_data([f"story {i}" for i in range(50)], task="lm")
    assert lm.splits["train"].column_names == ["text"] and lm.label_names == []


def test_columns_are_chosen_and_label_types_mapped():
    df = pd.DataFrame({"review": SPAM["text"], "stars": [5, 1, 3] * 20, "id": range(60)})
    loaded = load_data(df, text_column="review", label_column="stars")
    assert loaded.label_names == ["1", "3", "5"]  # ints without ClassLabel: sorted, str()
    split = loaded.splits["train"]
    star = dict(zip(df["review"], df["stars"], strict=True))
    assert all(
        loaded.label_names[y] == str(star[t])
        for t, y in zip(split["text"][:], split["label"][:], strict=True)
    )
    three = load_data({"text": ["a b", "c d", "e f"] * 10, "label": ["x", "z", "y"] * 10})
    assert three.label_names == ["x", "y", "z"] and three.num_classes == 3
    named = datasets.Dataset.from_dict(
        {"text": ["good"] * 10 + ["bad"] * 10, "label": [1] * 10 + [0] * 10},
        features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
        ),
    )
    assert load_data(named).label_names == ["neg", "pos"]  # ClassLabel names are kept


def test_blank_texts_and_missing_labels_are_dropped_with_a_warning():
    data = {"text": SPAM["text"] + ["", "   ", None], "label": SPAM["label"] + ["spam"] * 3}
    with pytest.warns(UserWarning, match="dropped 3 of 63 rows with empty text"):
        loaded = load_data(data)
    assert sum(len(s) for s in loaded.splits.values()) == 60
    data = {"text": SPAM["text"] + ["no label"], "label": SPAM["label"] + [None]}
    with pytest.warns(UserWarning, match="dropped 1 of 61 rows without a label"):
        load_data(data)


# --- errors: one line naming the problem and the fix ---------------------------------


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (SPAM, {"text_column": "txt"}, r"no text column 'txt' \(did you mean 'text'\?\).*text_column='text'"),
        ({"review": ["a"] * 5, "y": [0, 1] * 2 + [0]}, {}, r"no text column 'text'.*columns: review, y.*text_column='review'"),
        (SPAM, {"label_column": "labels"}, r"no label column 'labels' \(did you mean 'label'\?\)"),
        ({"text": ["a", "b"] * 5, "target": [0, 1] * 5}, {}, r"label_column='target'"),
        ({"text": [], "label": []}, {}, r"empty"),
        ({"text": ["a", "b", "c"] * 5, "label": ["x"] * 15}, {}, r"single class \('x'\).*label_column="),
        ({"text": ["", " "] * 5, "label": [0, 1] * 5}, {}, r"every text in column 'text' of split 'train' is empty"),
        ({"text": [1, 2] * 5, "label": [0, 1] * 5}, {}, r"holds int64, not text"),
        ({"text": ["a", "b"] * 5, "label": [0.5, 1.0] * 5}, {}, r"fractional"),
        ("imbd", {}, r"unknown dataset 'imbd' \(did you mean 'imdb'\?\)"),
        ("xls:data.xls", {}, r"unknown data prefix 'xls:'.*csv:"),
        ("csv:/no/such/file.csv", {}, r"file not found: /no/such/file.csv"),
        ("hf:./no/such/folder", {}, r"file not found"),
        (42, {}, r"cannot load data of type int"),
        (["a", "b"], {"task": "classify"}, r"no label column 'label'.*\(texts, labels\), or use task='lm'"),
    ],
)  # fmt: skip
def test_errors_name_the_problem_and_the_fix(data, kwargs, message):
    with pytest.raises(DataError, match=message) as err:
        load_data(data, **kwargs)
    assert "\n" not in str(err.value)


def test_empty_split_and_tiny_data_are_errors():
    ds = datasets.Dataset.from_dict(SPAM)
    with pytest.raises(DataError, match="split 'test' is empty"):
        load_data(datasets.DatasetDict({"train": ds, "test": ds.select([])}))
    with pytest.raises(DataError, match="too few to carve"):
        load_data({"text": ["a", "b"], "label": [0, 1]})


# --- tokenizers ----------------------------------------------------------------------

CORPUS = [
    "The movie was great!  Really <br /> great.",
    "Naïve café — 東京 😀\nsecond line\ttab",
    "it's bad, BAD, bad... 1999",
]


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_tokenizer_save_load_round_trips_exactly(kind, tmp_path):
    tok = TextTokenizer.train(kind, CORPUS * 5, vocab_size=300, lowercase=False)
    assert [tok.id_to_token(i) for i in range(4)] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    again = TextTokenizer.load(tok.save(tmp_path))
    assert again.kind == kind and again.to_json() == tok.to_json() and again == tok
    probe = CORPUS + ["unseen words zzz ⚡"]
    for a, b in zip(tok.encode(probe), again.encode(probe), strict=True):
        assert a.dtype == np.int32 and np.array_equal(a, b)
    plain = TextTokenizer.from_json(tok.tokenizer.to_str())  # a bare tokenizer.json
    assert plain.kind == kind


def test_bpe_and_char_decode_round_trip():
    text = "Hello, wörld! 東京 😀\n\ttabs  and   spaces <eos> end"
    bpe = TextTokenizer.train("bpe", CORPUS * 5, vocab_size=300, lowercase=False)
    assert bpe.decode(bpe.encode([text])[0]) == text  # byte-level: any text
    assert bpe.num_chars(bpe.encode([text])[0]) == len(text)
    char = TextTokenizer.train("char", [text], vocab_size=1000, lowercase=True)
    ids = char.encode([text])[0]
    assert char.decode(ids) == text  # case kept: char ignores lowercase
    assert len(ids) == len(text) == char.num_chars(ids) and EOS_ID not in ids
    assert char.decode([BOS_ID, *ids, PAD_ID, PAD_ID]) == text


def test_char_fast_path_matches_the_tokenizers_pipeline():
    char = TextTokenizer.train("char", CORPUS, vocab_size=1000, lowercase=False)
    probe = [*CORPUS, "", "unseen: Ω ⚡ 𝔘", "<unk> <pad> typed by a user"]
    slow = [e.ids or [UNK_ID] for e in char.tokenizer.encode_batch(probe, add_special_tokens=False)]
    assert [list(x) for x in char.encode(probe)] == slow


def test_word_tokenizer_normalizes_and_truncates_the_head():
    tok = TextTokenizer.train("word", CORPUS, vocab_size=100, lowercase=True)
    ids = tok.encode(["The MOVIE was great <br /> zzz", "", "..."], max_len=3)
    assert [tok.id_to_token(i) for i in ids[0]] == ["the", "movie", "was"]
    assert list(ids[1]) == [UNK_ID]  # an empty text still has one token
    assert "<br" not in tok.decode(tok.encode(CORPUS)[0])


def test_train_tokenizer_is_cached_for_file_backed_data():
    rt = load_data("rotten_tomatoes", limit=500)
    a = train_tokenizer(rt, "word", vocab_size=2000, lowercase=True)
    b = train_tokenizer(rt, "word", vocab_size=2000, lowercase=True)
    assert a == b and a.vocab_size == 2000


def test_encode_splits_keeps_labels_texts_and_chars():
    loaded = load_data(dict(SPAM))
    tok = TextTokenizer.train("char", loaded.splits["train"]["text"], 100, lowercase=False)
    enc = encode_splits(loaded, tok, max_len=None)
    split = enc["validation"]
    assert len(split) == len(loaded.splits["validation"])
    assert split.labels.dtype == np.int32
    assert list(split.labels) == loaded.splits["validation"]["label"][:]
    assert split.texts([1, -1]) == [loaded.splits["validation"][1]["text"]]
    assert tok.decode(split.tokens(1)) == split.texts([1])[0]
    assert split.num_chars == sum(map(len, loaded.splits["validation"]["text"][:])) + len(split)
    short = encode_splits(loaded, tok, max_len=5)["validation"]
    assert short.lengths.max() == 5 and short.num_chars == 6 * len(short)


# --- batching ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imdb_val(imdb):
    """IMDB's 2,000 validation reviews, word-tokenized (a tokenizer on 2,000 reviews)."""
    small = load_data("imdb", limit=2000)
    tok = TextTokenizer.train("word", small.splits["train"]["text"], 5000, lowercase=True)
    val = LoadedData(
        datasets.DatasetDict(validation=imdb.splits["validation"]), imdb.label_names, ""
    )
    return encode_splits(val, tok, max_len=256)["validation"]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("pad_to_multiple", [1, 3])
def test_every_example_once_static_shapes_and_weightless_padding(
    imdb_val, shuffle, pad_to_multiple
):
    batches = classify_batches(imdb_val, 50, shuffle=shuffle, seed=0, epoch=1, max_len=256,
                               pad_to_multiple=pad_to_multiple)  # fmt: skip
    size = 51 if pad_to_multiple == 3 else 50
    rows = np.concatenate([b.index[b.weights > 0] for b in batches])
    assert sorted(rows) == list(range(len(imdb_val)))  # each example exactly once
    assert sum(b.weights.sum() for b in batches) == len(imdb_val)
    widths = set(bucket_widths(256))
    for b in batches:
        assert b.tokens.shape[0] == size and b.tokens.shape[1] in widths
        assert b.tokens.dtype == np.int32 and b.mask.dtype == bool and b.index.dtype == np.int64
        assert b.labels.dtype == np.int32 and b.weights.dtype == np.float32
        pad = b.weights == 0
        assert (b.index[pad] == -1).all() and not b.mask[pad].any() and (b.tokens[pad] == 0).all()
        for r in np.flatnonzero(~pad)[:3]:
            want = imdb_val.tokens(b.index[r])[:256]
            assert np.array_equal(b.tokens[r, : len(want)], want) and b.mask[r].sum() == len(want)
            assert b.labels[r] == imdb_val.labels[b.index[r]]
    assert sum(bool((b.weights == 0).any()) for b in batches) <= 1  # one partial batch at most


def test_training_order_is_seeded_per_epoch(imdb_val):
    def order(seed, epoch):
        bs = classify_batches(imdb_val, 64, shuffle=True, seed=seed, epoch=epoch, max_len=256)
        return len(bs), np.concatenate([b.index for b in bs])

    (n0, a), (n1, b), (_, c) = order(0, 0), order(0, 1), order(0, 0)
    assert n0 == n1 and np.array_equal(a, c) and not np.array_equal(a, b)


def test_bucketing_cuts_padding_on_imdb(imdb_val):
    bucketed = classify_batches(imdb_val, 64, shuffle=True, seed=0, epoch=0, max_len=256)
    kept = np.minimum(imdb_val.lengths, 256)
    padded_to_max = 1 - kept.sum() / (len(bucketed) * 64 * 256)
    assert padding_fraction(bucketed) < 0.15 < padded_to_max
    assert padding_fraction(bucketed) < padded_to_max / 2


def test_pack_lm_windows_are_contiguous_and_shifted():
    loaded = load_data([f"document {i} " + "word " * (i % 7) for i in range(40)], task="lm")
    tok = TextTokenizer.train("word", loaded.splits["train"]["text"], 100, lowercase=True)
    split = encode_splits(loaded, tok, max_len=None)["train"]
    packed = pack_lm(split, seq_len=16)
    assert packed.dtype == np.int32 and packed.shape[1] == 17
    assert np.array_equal(packed[:-1, -1], packed[1:, 0])  # windows overlap by one token
    stream = np.concatenate([packed[0], *(w[1:] for w in packed[1:])])
    want = np.concatenate([[BOS_ID, *split.tokens(i), EOS_ID] for i in range(len(split))])
    assert np.array_equal(stream[: len(want)], want) and (stream[len(want) :] == PAD_ID).all()

    batches = lm_batches(packed, 4, shuffle=True, seed=0, epoch=0, pad_to_multiple=3)
    seen = []
    for b in batches:
        assert b.inputs.shape == b.targets.shape == b.weights.shape == (6, 16)
        assert b.weights.dtype == np.float32
        assert (b.weights[(b.targets == PAD_ID) | (b.targets == BOS_ID)] == 0).all()
        for inp, tgt in zip(b.inputs, b.targets, strict=True):
            assert np.array_equal(inp[1:], tgt[:-1])  # targets = inputs shifted by one
            if (tgt != PAD_ID).any():
                seen.append(tuple(inp))
    assert sorted(seen) == sorted(map(tuple, packed[:, :-1]))  # every window once
    targets = sum(b.weights.sum() for b in batches)
    assert targets == len(split.ids) + len(split)  # every token and every <eos>, once
