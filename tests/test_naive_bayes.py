"""The mlp's ``bag: nb``: naive Bayes ratios counted by ``adapt``, trained, saved and exported."""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY
from flax import nnx

import jaxtext
from jaxtext.data.batching import Batch
from jaxtext.errors import ConfigError
from jaxtext.exported import load_exported
from jaxtext.models.naive_bayes import log_count_ratios
from jaxtext.protocols import Dims
from jaxtext.registry import models

NB = {**TINY, "bag": "nb", "ngrams": 3}  # trigrams: shifts by 2 must export too


def nb_model(classes: int = 3, vocab: int = 30, **config):
    cls = models.get("mlp")
    dims = Dims(vocab, classes, 8, "classify")
    return cls(cls.Config(bag="nb", **config), dims, rngs=nnx.Rngs(0))


def test_log_count_ratios_compare_each_class_with_the_rest():
    counts = np.random.default_rng(0).integers(0, 9, (50, 3)).astype(np.float32)
    every = counts.sum(axis=1, keepdims=True) + 2  # two occurrences in unlabelled texts
    r = np.asarray(log_count_ratios(jnp.asarray(np.hstack([counts, every])), alpha=0.5))
    for c in range(3):
        p = counts[:, c] + 0.5
        q = every[:, 0] - counts[:, c] + 0.5
        np.testing.assert_allclose(r[:, c], np.log(p / p.sum()) - np.log(q / q.sum()), atol=1e-6)
    pair = np.hstack([counts[:, :2], counts[:, :2].sum(axis=1, keepdims=True)])
    two = np.asarray(log_count_ratios(jnp.asarray(pair)))
    np.testing.assert_allclose(two[:, 1], -two[:, 0], rtol=1e-6)  # NBSVM's one ratio


def test_adapt_counts_every_real_occurrence_per_class():
    """Counted independently here: padding tokens and padding rows (weight 0) count nothing."""
    rng = np.random.default_rng(1)
    batches, counts = [], np.zeros((30, 4))  # three classes, then every text
    for width in (5, 8):  # two batch widths, as length buckets give
        tokens = rng.integers(1, 30, (4, width)).astype(np.int32)
        mask = np.arange(width)[None] < rng.integers(0, width + 1, (4, 1))
        tokens = np.where(mask, tokens, 0)
        labels, weights = rng.integers(0, 3, 4).astype(np.int32), np.array([1, 1, 1, 0], np.float32)
        batches.append(Batch(tokens, mask, labels, weights, np.arange(4)))
        for row in range(3):
            for column in (labels[row], 3):
                np.add.at(counts[:, column], tokens[row][mask[row]], 1)
    model = nb_model()
    assert not np.asarray(model.ratios[...]).any()  # nothing known before adapt
    model.adapt(batches)
    np.testing.assert_allclose(np.asarray(model.ratios[...]),
                               np.asarray(log_count_ratios(jnp.asarray(counts))), atol=1e-6)
    trained = [path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))]
    assert trained and not any("ratios" in path for path in trained)  # never trained


def test_multi_label_ratios_weigh_each_label_against_the_texts_without_it():
    tokens = np.array([[1, 2], [1, 3], [4, 0]], np.int32)  # texts labelled {a, b}, {a}, {}
    labels = np.array([[1, 1], [1, 0], [0, 0]], np.float32)
    cls = models.get("mlp")
    model = cls(cls.Config(bag="nb"), Dims(5, 2, 2, "multilabel"), rngs=nnx.Rngs(0))
    model.adapt([Batch(tokens, tokens > 0, labels, np.ones(3, np.float32), np.arange(3))])
    counts = np.zeros((5, 3))
    for row, label_row in zip(tokens, labels, strict=True):
        for column in [*np.flatnonzero(label_row), 2]:
            np.add.at(counts[:, column], row[row > 0], 1)
    np.testing.assert_allclose(np.asarray(model.ratios[...]),
                               np.asarray(log_count_ratios(jnp.asarray(counts))), atol=1e-6)
    # token 4 is only in the text without labels: evidence against both
    assert (np.asarray(model.ratios[...])[4] < 0).all()


def test_the_logits_start_from_naive_bayes_and_ignore_padding():
    model = nb_model(classes=2, ngrams=3, ngram_buckets=64)
    tokens = jnp.array([[3, 4, 5, 0, 0], [6, 0, 0, 0, 0]], jnp.int32)
    mask = tokens > 0
    labels = np.array([1, 0], np.int32)
    model.adapt([Batch(np.asarray(tokens), np.asarray(mask), labels, np.ones(2, np.float32),
                       np.arange(2))])
    model.eval()
    logits = model(tokens, mask)
    assert logits[0, 1] > logits[0, 0] and logits[1, 0] > logits[1, 1]  # each its own class
    garbage = jnp.where(mask, tokens, 9)
    np.testing.assert_allclose(model(garbage, mask), logits, atol=1e-6)
    np.testing.assert_allclose(model(tokens[:, :3], mask[:, :3]), logits, atol=1e-6)


@pytest.mark.parametrize("keys, message", [
    ({"bag": "sum"}, "bag must be one of mean, nb, not 'sum'"),
    ({"bag": "nb", "layers": 1}, "bag 'nb' is a linear model on the naive Bayes evidence; "
                                 "set layers: 0"),
])
def test_bad_bag_settings_are_one_line(keys, message):
    with pytest.raises(ConfigError, match=message):
        jaxtext.Config.from_dict(model="mlp", **keys)


def test_nb_needs_class_labels():
    cls = models.get("mlp")
    with pytest.raises(ConfigError, match="needs class labels .* not task regression; use bag: mean"):
        cls(cls.Config(bag="nb"), Dims(30, 1, 8, "regression"), rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_a_nb_run_learns_saves_and_exports_exactly(tmp_path):
    run = jaxtext.train(NB, callbacks=[])
    assert run.status == "completed" and run.test_metrics["accuracy"] > 0.62
    ratios = np.asarray(run.model_state.rest["ratios"][...])
    assert ratios.shape == (4000 + 4096, 2) and np.abs(ratios).max() > 1  # counted, not zeros
    summary = run.summary()  # the ratios are memory too, not parameters
    assert summary.num_params == (4000 + 4096) + 2 and summary.fixed_bytes >= ratios.nbytes
    assert "untrained arrays 63.3 KiB" in summary.headline()
    run.save(tmp_path / "run")
    loaded = jaxtext.load(tmp_path / "run")
    assert np.asarray(loaded.model_state.rest["ratios"][...]).tobytes() == ratios.tobytes()
    texts = ["an utterly charming movie", "dull , lifeless and far too long", ""]
    assert loaded.predict(texts).equals(run.predict(texts))
    exported = load_exported(run.export(tmp_path / "exported"))
    assert np.array_equal(exported.probs(texts), run.predict(texts)[run.label_names].to_numpy())


def test_ratios_stay_fixed_while_the_weights_train():
    run_config = {**NB, "epochs": 1, "limit": 400}
    run = jaxtext.train(run_config, callbacks=[])
    fresh = jaxtext.train({**run_config, "lr": 1e-30}, callbacks=[])  # same counts, no learning
    ratios = [np.asarray(r.model_state.rest["ratios"][...]) for r in (run, fresh)]
    assert np.array_equal(*ratios) and np.abs(ratios[0]).max() > 1
    weights = [np.asarray(r.model_state.params["embed"]["embedding"][...]) for r in (run, fresh)]
    assert not np.array_equal(*weights)
