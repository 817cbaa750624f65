"""Language-model training and sampling (task: lm) end to end, plus the sampling filters."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtext
from jaxtext import events as ev
from jaxtext.generate import filter_logits, sample_next

LM = dict(task="lm", model="transformer", data="rotten_tomatoes", tokenizer="char",
          max_len=64, epochs=1, limit=1500, batch_size=32, log_every=20, sample_tokens=24,
          prompt="the movie", dim=32, layers=1, heads=2)


@pytest.fixture(scope="module")
def lm_run():
    return jaxtext.train(LM, callbacks=[])


def test_filters_temperature_top_k_top_p():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    top2 = filter_logits(logits, 1.0, 2, 1.0)
    assert np.isfinite(top2[0, :2]).all() and np.isneginf(top2[0, 2:]).all()
    nucleus = filter_logits(logits, 1.0, 0, 0.7)  # 0.5 + 0.3 reach 0.7: the rest is excluded
    assert np.isfinite(nucleus[0, :2]).all() and np.isneginf(nucleus[0, 2:]).all()
    assert np.isfinite(filter_logits(logits, 1.0, 0, 1.0)).all()  # filters off
    hot = jax.nn.softmax(filter_logits(logits, 2.0, 0, 1.0))
    cold = jax.nn.softmax(filter_logits(logits, 0.5, 0, 1.0))
    assert hot[0, 0] < 0.5 < cold[0, 0]  # temperature flattens / sharpens


def test_top_p_never_samples_outside_the_nucleus():
    logits = jnp.tile(jnp.log(jnp.array([0.6, 0.3, 0.07, 0.03])), (2000, 1))
    draws = sample_next(jax.random.key(0), logits, 1.0, 0, 0.8)
    assert set(np.unique(draws).tolist()) == {0, 1}
    greedy = sample_next(jax.random.key(0), logits, 0.0, 0, 1.0)
    assert (greedy == 0).all()


def test_lm_trains_and_reports_perplexity_and_bpc(lm_run):
    m = lm_run.test_metrics
    assert set(m) == {"loss", "perplexity", "bits_per_char"}
    assert np.isclose(m["perplexity"], np.exp(m["loss"]))
    assert m["bits_per_char"] < 5.0  # uniform over ~70 characters would be > 6 bits
    train = lm_run.history[lm_run.history.kind == "train"]
    assert train.loss.iloc[-1] < train.loss.iloc[0]


def test_sampling_is_reproducible_and_greedy_equals_top_k_1(lm_run):
    a = lm_run.generate("the film", max_new_tokens=30, temperature=0.9, num_samples=3, seed=7)
    b = lm_run.generate("the film", max_new_tokens=30, temperature=0.9, num_samples=3, seed=7)
    assert a == b and len(a) == 3
    assert lm_run.generate("the film", max_new_tokens=30, temperature=0.9, seed=8) != a[:1]
    greedy = lm_run.generate("the film", max_new_tokens=30, temperature=0)
    assert lm_run.generate("the film", max_new_tokens=30, top_k=1, seed=3) == greedy


def test_probabilities_and_streaming(lm_run):
    chunks = []
    texts, pieces = lm_run.generate("a", max_new_tokens=60, num_samples=2, return_probs=True,
                                    stream=chunks.append, chunk_size=16)
    assert len(chunks) == 4 and chunks[-1] == texts  # one update per compiled chunk
    assert len(chunks[0][0]) <= len(chunks[-1][0])
    for text, tokens in zip(texts, pieces, strict=True):
        assert "".join(t for t, _ in tokens) == text
        assert all(0.0 <= p <= 1.0 for _, p in tokens)


def test_epoch_end_samples_reach_callbacks():
    seen = []

    class Keep(jaxtext.Callback):
        def on_samples(self, event):
            seen.append(event)

    jaxtext.train({**LM, "limit": 300}, callbacks=[Keep()])
    assert len(seen) == 1 and isinstance(seen[0], ev.Samples)
    assert seen[0].prompt == "the movie" and len(seen[0].samples) == 2
    assert all(len(p) > 0 for p in seen[0].token_probs)


def test_generate_on_a_classifier_is_a_clear_error(tiny_run):
    with pytest.raises(jaxtext.ConfigError, match="needs a language model"):
        tiny_run.generate("hello")


@pytest.mark.parametrize("model", ["lstm", "mlp"])
def test_every_model_is_a_language_model(model):
    cfg = {k: v for k, v in LM.items() if k not in ("dim", "layers", "heads")}
    run = jaxtext.train({**cfg, "model": model, "limit": 400, "sample_tokens": 0}, callbacks=[])
    assert np.isfinite(run.test_metrics["bits_per_char"])
    assert len(run.generate("the", max_new_tokens=20, seed=1)[0]) > 0
    # a carried state / sliding window decodes past the training length (a transformer's
    # cache holds max_len positions: asking it for more is a ConfigError)
    long = run.generate("the", max_new_tokens=3 * LM["max_len"], seed=3)
    assert len(long) == 1 and isinstance(long[0], str)


@pytest.mark.slow
def test_cli_lm_train_and_generate_json(tmp_path):
    flags = [f"--set={k}={v}" for k, v in LM.items() if k not in ("model", "data", "task")]
    base = [sys.executable, "-m", "jaxtext"]
    out = subprocess.run([*base, "train", "--task", "lm", "--model", "transformer", "--data",
                          "rotten_tomatoes", *flags, "--quiet", "--out", str(tmp_path / "lm"),
                          "--json", str(tmp_path / "t.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "t.json").read_text())
    assert {"loss", "perplexity", "bits_per_char"} <= set(report["test"])
    assert report["timing"]["train_examples_per_s"] > 0
    gen = subprocess.run([*base, "generate", str(tmp_path / "lm"), "--prompt", "it was",
                          "--max-new-tokens", "20", "--num-samples", "2", "--json",
                          str(tmp_path / "g.json")], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    samples = json.loads((tmp_path / "g.json").read_text())
    assert len(samples["samples"]) == 2 and samples["tokens_per_s"] > 0
