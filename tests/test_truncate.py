"""The ``truncate`` key: which max_len tokens of a long text are kept, the same everywhere."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY
from test_streaming import CLASSIFY, labeled_corpus

import jaxtext
from jaxtext.config import Config
from jaxtext.data import classify_batches, encode_splits, load_data, train_tokenizer
from jaxtext.data.encoding import EncodedSplit
from jaxtext.data.pairs import join_pairs
from jaxtext.data.prepare import prepare_data
from jaxtext.data.texts import encode_texts
from jaxtext.errors import ConfigError, RunFolderError
from jaxtext.exported import load_exported
from jaxtext.truncation import TRUNCATIONS, truncate

# rows of 0, 3, 5 and 9 ids: 100..102 | 200..204 | 300..308, and an empty one
IDS = np.array([100, 101, 102, 200, 201, 202, 203, 204, *range(300, 309)], np.int32)
OFFSETS = np.array([0, 0, 3, 8, 17])


def rows(ids, offsets) -> list[list[int]]:
    return [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def test_each_truncation_keeps_exactly_its_tokens():
    want = {
        "head": [[], [100, 101, 102], [200, 201, 202, 203], [300, 301, 302, 303]],
        "tail": [[], [100, 101, 102], [201, 202, 203, 204], [305, 306, 307, 308]],
        # a quarter of max_len (1) from the start, the other three from the end
        "head_tail": [[], [100, 101, 102], [200, 202, 203, 204], [300, 306, 307, 308]],
    }
    for keep in TRUNCATIONS:
        ids, offsets = truncate(IDS, OFFSETS, 4, keep)
        assert ids.dtype == np.int32 and offsets.tolist() == [0, 0, 3, 7, 11]
        assert rows(ids, offsets) == want[keep], keep
    ids, offsets = truncate(IDS, OFFSETS, 8, "head_tail")  # 2 + 6
    assert rows(ids, offsets)[3] == [300, 301, 303, 304, 305, 306, 307, 308]
    assert rows(*truncate(IDS, OFFSETS, 1, "head_tail")) == [[], [102], [204], [308]]


def test_head_is_the_plain_prefix_and_short_rows_come_back_as_they_are():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, 200)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(4, 1000, offsets[-1]).astype(np.int32)
    got = rows(*truncate(ids, offsets, 17, "head"))
    assert got == [ids[a:a + min(b - a, 17)].tolist()
                   for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    for keep in TRUNCATIONS:  # nothing to cut: the very same arrays
        same_ids, same_offsets = truncate(ids, offsets, 40, keep)
        assert same_ids is ids and same_offsets is offsets
    with pytest.raises(ValueError, match="head, tail, head_tail"):
        truncate(ids, offsets, 40, "middle")


def test_pairs_cut_each_text_within_its_share():
    a = (np.arange(10, 20, dtype=np.int32), np.array([0, 10]))
    b = (np.arange(50, 53, dtype=np.int32), np.array([0, 3]))
    # max_len 9: the <eos> (3) leaves 8; b keeps its 3 tokens, a gets 5
    assert join_pairs(a, b, 9, "head")[0].tolist() == [10, 11, 12, 13, 14, 3, 50, 51, 52]
    assert join_pairs(a, b, 9, "tail")[0].tolist() == [15, 16, 17, 18, 19, 3, 50, 51, 52]
    assert join_pairs(a, b, 9, "head_tail")[0].tolist() == [10, 16, 17, 18, 19, 3, 50, 51, 52]


def test_bad_values_name_the_choices():
    with pytest.raises(ConfigError, match="truncate must be one of head, tail, head_tail.*"
                                          "did you mean 'head_tail'"):
        Config.from_dict(truncate="head-tail")
    with pytest.raises(ConfigError, match="an lm reads whole texts"):
        Config.from_dict(task="lm", truncate="tail")
    assert Config.from_dict().truncate == "head"


@pytest.fixture(scope="module")
def tail_run():
    # rotten_tomatoes sentences are ~20 words: max_len 12 cuts most of them
    return jaxtext.train({**TINY, "max_len": 12, "epochs": 1, "limit": 1000,
                          "truncate": "head_tail"}, callbacks=[])


def test_a_run_encodes_new_texts_as_it_encoded_its_splits(tail_run):
    test = tail_run.trained.data.encoded["test"]
    texts = test.dataset["text"]
    again = encode_texts(tail_run.tokenizer, texts, 12, keep="head_tail")
    assert np.array_equal(again.ids, test.ids) and np.array_equal(again.offsets, test.offsets)
    full = tail_run.tokenizer.encode(texts[:50])
    cut = [r for r in full if len(r) > 12]
    assert cut, "the test needs texts longer than max_len"
    heads_only = encode_texts(tail_run.tokenizer, texts, 12)  # what head would have read
    assert not np.array_equal(heads_only.ids, test.ids)
    # evaluating the same texts as new data scores what the test split scored
    labels = [tail_run.label_names[i] for i in test.labels]
    assert tail_run.evaluate((texts, labels))["accuracy"] == tail_run.test_metrics["accuracy"]


def test_save_load_and_export_keep_the_truncation(tail_run, tmp_path):
    texts = ["the plot " * 30 + "but it ends wonderfully", "dull " * 40 + "a great ending"]
    probs = tail_run.predict(texts)[tail_run.label_names].to_numpy()
    loaded = jaxtext.load(tail_run.save(tmp_path / "run"))
    assert loaded.config.truncate == "head_tail"
    assert np.array_equal(loaded.predict(texts)[loaded.label_names].to_numpy(), probs)
    export = tail_run.export(tmp_path / "export")
    assert json.loads((export / "manifest.json").read_text())["truncate"] == "head_tail"
    assert np.array_equal(load_exported(export).probs(texts), probs)


def test_an_export_refuses_an_unknown_truncation(tail_run, tmp_path):
    export = Path(tail_run.export(tmp_path / "export"))
    manifest = json.loads((export / "manifest.json").read_text())
    (export / "manifest.json").write_text(json.dumps({**manifest, "truncate": "middle"}))
    with pytest.raises(RunFolderError, match="truncate 'middle' is not one of"):
        load_exported(export)


def test_the_encoding_cache_is_shared_but_each_truncation_cuts_its_own():
    loaded = load_data("rotten_tomatoes")
    tok = train_tokenizer(loaded, "word", 2000)
    first = {k: encode_splits(loaded, tok, 10, keep=k)["validation"] for k in TRUNCATIONS}
    whole = encode_splits(loaded, tok, None)["validation"]  # from the cache by now
    for keep, split in first.items():
        want = truncate(whole.ids, whole.offsets, 10, keep)
        assert np.array_equal(split.ids, want[0]) and np.array_equal(split.offsets, want[1])
    assert not np.array_equal(first["head"].ids, first["tail"].ids)


def test_a_streamed_classifier_cuts_texts_as_truncate_says(tmp_path):
    path = tmp_path / "labeled.jsonl"
    rows_ = labeled_corpus(path, 1000)
    data = prepare_data(Config.from_dict({**CLASSIFY, "data": f"json:{path}", "max_len": 6,
                                          "truncate": "tail"}))
    block = rows_[40:40 + 64 * 8]
    ids, offsets = data.tokenizer._encode_flat([r["text"] for r in block])
    labels = np.array([data.label_names.index(r["label"]) for r in block], np.int32)
    tail = EncodedSplit(*truncate(ids, offsets, 6, "tail"), labels, 0, None)
    want = classify_batches(tail, 8, shuffle=True, seed=0, epoch=0, max_len=6)
    got = data.batches("train", shuffle=True)
    for a, b in zip(got, want, strict=False):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    held_out = data.encoded["test"]
    whole = data.tokenizer._encode_flat(data.loaded.splits["test"]["text"])
    assert np.array_equal(held_out.ids, truncate(*whole, 6, "tail")[0])
