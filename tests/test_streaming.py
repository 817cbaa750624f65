"""stream: true: language models and classifiers trained on a corpus read lazily."""

import json
import math
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import datasets
import numpy as np
import pytest

import jaxtext
from jaxtext.config import Config
from jaxtext.data import (
    UNK_ID,
    EncodedSplit,
    classify_batches,
    encode_splits,
    lm_batches,
    pack_lm,
)
from jaxtext.data.prepare import prepare_data
from jaxtext.data.stream_batches import pack_windows
from jaxtext.errors import ConfigError, DataError

WORDS = ("zor", "blick", "mav", "quen", "tiv", "dap", "sorn", "elk", "pim", "wub", "fral",
         "gosh", "nid", "plo", "rask", "ust")
# a tiny, fast lm over a streamed file: 20 held out each for validation and test
SMALL = dict(task="lm", model="transformer", stream=True, tokenizer="word", vocab_size=64,
             max_len=16, batch_size=8, stream_holdout=20, stream_sample=200, dim=16, layers=1,
             heads=2, sample_tokens=0, log_every=5)

CLASSIFY = dict(task="classify", model="mlp", stream=True, tokenizer="word", vocab_size=64,
                max_len=24, batch_size=8, stream_holdout=20, stream_sample=200, dim=16,
                ngram_buckets=256, lr=0.02, log_every=5)


def sentences(count: int, seed: int = 0) -> list[str]:
    """Made-up sentences of 3-12 words from ``WORDS``."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(3, 13))) for _ in range(count)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[str]]:
    texts = sentences(1200)
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(texts) + "\n")
    return path, texts


def prepared(path, **changes):
    return prepare_data(Config.from_dict({**SMALL, "data": f"text:{path}", **changes}))


def test_pack_windows_of_chunks_equal_pack_lm_of_the_whole():
    tok = jaxtext.data.TextTokenizer.train("word", sentences(100), vocab_size=64)
    texts = sentences(300, seed=1)
    whole = encode_splits(_loaded(texts), tok, None)["train"]
    chunks = [tok._encode_flat(texts[i:i + 37]) for i in range(0, len(texts), 37)]
    for seq_len in (5, 16, 64):
        streamed = np.concatenate(list(pack_windows(chunks, seq_len)))
        np.testing.assert_array_equal(streamed, pack_lm(whole, seq_len))


def test_streamed_batches_are_the_in_memory_batches_of_the_same_texts(corpus):
    path, texts = corpus
    data = prepared(path)
    assert set(data.packed) == {"validation", "test"}
    # held out: the first 20 texts are validation, the next 20 test; train reads the rest
    assert data.loaded.splits["validation"]["text"] == texts[:20]
    assert data.loaded.splits["test"]["text"] == texts[20:40]
    memory = pack_lm(encode_splits(_loaded(texts[40:]), data.tokenizer, None)["train"], 16)
    expected = lm_batches(memory, 8, shuffle=False, seed=0, epoch=0)
    streamed = data.batches("train", shuffle=False)
    for got, want in zip(streamed, expected[:len(streamed) - 1], strict=False):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    # an epoch is about one pass: the files' rows (estimated from size) x tokens per text
    assert abs(len(streamed) - len(expected)) <= 0.15 * len(expected)
    assert data.size("train") == len(streamed) * 8


def test_shuffled_epochs_differ_and_a_resumed_epoch_gets_the_same_batches(corpus):
    path, _ = corpus
    data = prepared(path, steps_per_epoch=20)
    first, second = data.batches("train", epoch=0, shuffle=True), \
        data.batches("train", epoch=1, shuffle=True)
    one, two = [b.inputs for b in first], [b.inputs for b in second]
    assert len(one) == len(two) == 20
    assert not all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    # a fresh process resuming at batch 7 of epoch 2 reads the stream again up to there
    again = prepared(path, steps_per_epoch=20).batches("train", epoch=1, shuffle=True)[7:]
    assert len(again) == 13
    for a, b in zip(two[7:], [b.inputs for b in again], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_tokenizer_learns_from_the_sample(corpus):
    path, texts = corpus
    data = prepared(path)
    words = set(" ".join(texts[40:240]).split())
    assert {t for t in words if data.tokenizer.tokenizer.token_to_id(t) is not None} == words
    assert UNK_ID not in data.encoded["validation"].ids


@pytest.mark.slow
def test_a_streamed_lm_trains_resumes_bit_identically_and_evaluates(corpus, tmp_path):
    path, _ = corpus
    settings = {**SMALL, "data": f"text:{path}", "steps_per_epoch": 12, "epochs": 2}
    straight = jaxtext.train(settings, callbacks=[])
    assert straight.status == "completed" and straight.steps == 24
    assert np.isfinite(straight.test_metrics["bits_per_char"])
    out = tmp_path / "run"
    stopped = jaxtext.train({**settings, "out": str(out), "checkpoint_every": 5},
                            callbacks=[_stop_at(17)])
    assert stopped.status == "interrupted"
    resumed = jaxtext.train(resume=str(out), callbacks=[])
    assert resumed.steps == 24 and resumed.test_metrics == straight.test_metrics
    import jax

    same = jax.tree.map(np.array_equal, resumed.model_state.params, straight.model_state.params)
    assert all(jax.tree.leaves(same))
    assert straight.evaluate("validation")["loss"] > 0
    with pytest.raises(DataError, match="not held in memory"):
        straight.evaluate("train")


@pytest.mark.parametrize("fmt", ["text", "json", "csv", "parquet"])
def test_every_file_format_streams_the_same_rows_and_estimates_its_size(corpus, tmp_path, fmt):
    import pandas as pd

    _, texts = corpus
    path = tmp_path / f"rows.{ {'text': 'txt', 'json': 'jsonl'}.get(fmt, fmt)}"
    frame = pd.DataFrame({"text": texts, "n": range(len(texts))})
    if fmt == "text":
        path.write_text("\n".join(texts) + "\n")
    elif fmt == "json":
        frame.to_json(path, orient="records", lines=True)
    else:
        getattr(frame, f"to_{fmt}")(path, index=False)
    data = prepared(path, data=f"{fmt}:{path}")
    assert data.loaded.splits["validation"]["text"] == texts[:20]
    assert abs(data.stream.rows_estimate() - len(texts)) <= 0.1 * len(texts)
    assert data.stream.first(5)[0] == texts[:5]


def test_datasets_streaming_from_a_local_file(corpus):
    path, texts = corpus
    stream = datasets.load_dataset("text", data_files=str(path), split="train", streaming=True)
    with pytest.raises(ConfigError, match="length is unknown; set steps_per_epoch"):
        prepare_data(Config.from_dict({**SMALL, "data": stream}))
    run = jaxtext.train({**SMALL, "data": stream, "steps_per_epoch": 6, "epochs": 1},
                        callbacks=[])
    assert run.steps == 6 and np.isfinite(run.test_metrics["loss"])
    # hf: with a local file goes through datasets streaming too, with a known size
    data = prepare_data(Config.from_dict({**SMALL, "data": f"hf:{path}"}))
    assert data.loaded.splits["test"]["text"] == texts[20:40] and len(data.batches("train"))


def test_the_reader_thread_ends_with_training_even_when_a_callback_fails(corpus):
    class Fail(jaxtext.Callback):
        def on_epoch_end(self, event):
            raise RuntimeError("a failing callback")

    path, _ = corpus
    before = set(_readers())  # other tests' data objects may hold live streams
    with pytest.raises(RuntimeError, match="a failing callback"):  # after epoch 1 of 3
        jaxtext.train({**SMALL, "data": f"text:{path}", "steps_per_epoch": 4, "epochs": 3},
                      callbacks=[Fail()])
    deadline = time.time() + 5
    while set(_readers()) - before and time.time() < deadline:
        time.sleep(0.05)
    assert not set(_readers()) - before


def _readers():
    return [t for t in threading.enumerate() if t.name == "jaxtext-stream" and t.is_alive()]


@pytest.mark.parametrize("changes, error, message", [
    (dict(data="text:/no/such/file.txt"), DataError, r"file not found: /no/such/file\.txt"),
    (dict(data="text:{empty}"), DataError, r"is empty \(0 bytes\)"),
    (dict(data="text:{blank}"), DataError, r"holds 0 non-blank texts"),
    (dict(data="text:{corpus}", stream_holdout=600), DataError, r"lower stream_holdout"),
    (dict(data="text:{corpus}", task="regression"), ConfigError,
     r"task 'regression' needs its data in memory"),
    (dict(data="json:{jsonl}", task="classify", label_column="tag"), DataError,
     r"no label column 'tag'"),
    (dict(data="text:{corpus}", limit=10), ConfigError, r"limit caps a dataset held in memory"),
    (dict(data="text:{corpus}", stream=False, steps_per_epoch=5), ConfigError,
     r"add stream: true"),
    (dict(data=["a text", "another"]), DataError, r"stream: true reads a corpus lazily"),
    (dict(data="json:{jsonl}", text_column="body"), DataError, r"no text column 'body'"),
])
def test_bad_input_is_one_line(corpus, tmp_path, changes, error, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n\n")
    (tmp_path / "c.jsonl").write_text('{"text": "zor mav"}\n' * 50)
    files = dict(corpus=corpus[0], empty=tmp_path / "empty.txt", blank=tmp_path / "blank.txt",
                 jsonl=tmp_path / "c.jsonl")
    if isinstance(changes["data"], str):
        changes = {**changes, "data": changes["data"].format(**files)}
    with pytest.raises(error, match=message) as info:
        prepare_data(Config.from_dict({**SMALL, **changes}))
    assert "\n" not in str(info.value)


def test_a_streaming_dataset_without_stream_says_how():
    stream = datasets.Dataset.from_dict({"text": ["zor"]}).to_iterable_dataset()
    with pytest.raises(DataError, match="only with stream: true"):
        jaxtext.data.load_data(stream, task="lm")


def labeled_corpus(path: Path, count: int, extra: dict | None = None) -> list[dict]:
    """JSON lines whose label says whether the text holds the word "zor"."""
    rows = [{"text": t, "label": "zor" if "zor" in t.split() else "none"}
            for t in sentences(count, seed=2)]
    for i, label in (extra or {}).items():
        rows[i]["label"] = label
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_a_streamed_classifier_batches_like_classify_batches_and_learns(tmp_path):
    path = tmp_path / "labeled.jsonl"
    rows = labeled_corpus(path, 1500)
    settings = {**CLASSIFY, "data": f"json:{path}"}
    data = prepare_data(Config.from_dict(settings))
    assert data.label_names == ["none", "zor"]
    assert data.loaded.splits["test"]["text"] == [r["text"] for r in rows[20:40]]
    # a block of 64 batches x 8 examples is cut by classify_batches, seeded by its number
    block = rows[40:40 + 64 * 8]
    ids, offsets = data.tokenizer._encode_flat([r["text"] for r in block])
    labels = np.array([data.label_names.index(r["label"]) for r in block], np.int32)
    want = classify_batches(EncodedSplit(ids, offsets, labels, 0, None), 8, shuffle=True,
                            seed=0, epoch=0, max_len=24)
    got = data.batches("train", shuffle=True)
    assert len(got) == math.ceil((1500 - 40) / 8)  # steps: an estimated pass
    for a, b in zip(got, want, strict=False):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    run = jaxtext.train({**settings, "epochs": 2}, callbacks=[])
    assert run.test_metrics["accuracy"] >= 0.9, run.test_metrics


def test_a_streamed_nb_classifier_counts_its_ratios_from_the_stream(tmp_path):
    """bag: nb reads the training stream once before the first step (``adapt``); training
    then streams its own epochs as usual."""
    path = tmp_path / "labeled.jsonl"
    labeled_corpus(path, 1500)
    run = jaxtext.train({**CLASSIFY, "data": f"json:{path}", "epochs": 2, "bag": "nb",
                         "ngrams": 2}, callbacks=[])
    assert run.status == "completed" and run.steps == 2 * math.ceil((1500 - 40) / 8)
    assert run.test_metrics["accuracy"] >= 0.9, run.test_metrics
    assert np.abs(np.asarray(run.model_state.rest["ratios"][...])).max() > 1


def test_a_label_the_sample_never_saw_is_one_line(tmp_path):
    path = tmp_path / "labeled.jsonl"
    labeled_corpus(path, 1500, extra={700: "surprise"})
    data = prepare_data(Config.from_dict({**CLASSIFY, "data": f"json:{path}"}))
    with pytest.raises(DataError, match="label 'surprise' was not among.*raise stream_sample"):
        list(data.batches("train", shuffle=True))


MEASURE = """
import sys, time, jaxtext
start = time.time()
run = jaxtext.train(task="lm", model="transformer", data="text:" + sys.argv[1], stream=True,
                    tokenizer="word", vocab_size=64, max_len=64, batch_size=32, epochs=1,
                    dim=32, layers=1, heads=2, sample_tokens=0, stream_holdout=200,
                    stream_sample=5000, steps_per_epoch=int(sys.argv[2]), callbacks=[])
# VmHWM: this program's own peak; ru_maxrss would also count the pytest parent's pages that
# the fork copied before exec (Linux keeps that high-water mark across execve)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(run.status, run.steps, run.test_metrics["bits_per_char"], peak_kb, time.time() - start)
"""


@pytest.mark.slow
def test_a_multi_gigabyte_corpus_trains_in_bounded_memory(tmp_path):
    """2.5 GB of generated sentences, 200 steps: the peak resident memory stays under 2 GB."""
    path = tmp_path / "big.txt"
    rng = np.random.default_rng(0)
    lines = np.array([line + "\n" for line in sentences(100_000)], dtype=object)
    try:
        with path.open("w") as f:
            while f.tell() < 2_500_000_000:
                f.write("".join(lines[rng.permutation(len(lines))]))
        script = textwrap.dedent(MEASURE)
        child = subprocess.run([sys.executable, "-c", script, str(path), "200"],
                               capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert child.returncode == 0, child.stderr[-2000:]
        status, steps, bpc, peak_kb, seconds = child.stdout.split()[-5:]
        print(f"2.5 GB corpus, 200 steps: peak RSS {int(peak_kb) / 1024:.0f} MB, "
              f"{float(seconds):.1f} s")
        assert status == "completed" and int(steps) == 200 and float(bpc) < 3
        assert int(peak_kb) < 2 * 1024 * 1024, f"peak RSS {int(peak_kb) / 1024:.0f} MB"
    finally:
        path.unlink(missing_ok=True)


def _loaded(texts):
    from jaxtext.data.load import LoadedData

    return LoadedData(datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"text": texts})}), [], "texts", "lm")


def _stop_at(step):
    class Stop(jaxtext.Callback):
        def on_step(self, done):
            if done >= step:
                self.control.request_stop("test stop")

    return Stop()
