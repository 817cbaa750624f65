"""The per-text tasks beyond classify: regression and multilabel, end to end on small
synthetic data passed the way users pass theirs (CSV and JSON-lines files, in-memory dicts).

The data is generated here from a made-up vocabulary (no corpus is copied): filler words
``w0..w39`` plus a few keywords whose presence decides the target, so a bag of words can learn
it. Each real run is short (a few hundred texts, a tiny model) and scored on the test split.
"""

from __future__ import annotations

import json

import datasets
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from flax import nnx

import jaxtext
from jaxtext.errors import ConfigError, DataError
from jaxtext.protocols import Dims
from jaxtext.registry import models
from jaxtext.training.metrics import best_threshold, multilabel_metrics, regression_metrics
from jaxtext.training.optim import OptimizerSpec, make_optimizer
from jaxtext.training.state import init_model_state
from jaxtext.training.steps import regression_error, train_step_fn, zero_sums
from jaxtext.widgets import Dashboard, charts
from jaxtext.widgets.panels import layout

KEYWORDS = ("sport", "music", "food")
FAST = dict(model="mlp", epochs=4, batch_size=32, max_len=24, vocab_size=100, lr=3e-2,
            log_every=5)


def synthetic(n: int, seed: int = 0):
    """Texts of filler words with 0-3 keywords each; (texts, keywords present per text)."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(40)]
    texts, present = [], []
    for _ in range(n):
        words = list(rng.choice(filler, rng.integers(4, 10)))
        has = [k for k in KEYWORDS if rng.random() < 0.35]
        for k in has:
            words.insert(int(rng.integers(0, len(words) + 1)), k)
        texts.append(" ".join(words))
        present.append(has)
    return texts, present


def score_of(keywords) -> float:
    """The regression target: a number in the data's own units, far from 0 and 1."""
    return 100.0 + 20.0 * ("sport" in keywords) - 10.0 * ("food" in keywords)


def params_equal(a, b) -> bool:
    leaves_a, leaves_b = jax.tree.leaves(a.model_state.params), jax.tree.leaves(b.model_state.params)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b, strict=True))


# ------------------------------------------------------------------------------ regression


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    """A regression run on a CSV file, watched by the notebook dashboard."""
    texts, present = synthetic(600)
    path = tmp_path_factory.mktemp("regression") / "scores.csv"
    pd.DataFrame({"review": texts, "score": [score_of(k) for k in present]}).to_csv(path,
                                                                                    index=False)
    dash = Dashboard(display=False)
    run = jaxtext.train(dict(FAST, task="regression", data=f"csv:{path}", text_column="review",
                             label_column="score"), callbacks=[dash])
    return run, dash


@pytest.mark.slow
def test_regression_learns_and_reports_in_the_data_units(regression_run):
    run, _ = regression_run
    assert run.status == "completed"
    test = run.test_metrics
    assert set(test) == {"r2", "mae", "rmse", "loss"}
    assert test["r2"] > 0.5, test  # predicting the mean scores 0
    assert test["mae"] < 8.0  # the target's spread is about 11 (units of the data)
    stats = run.task_params
    assert 95 < stats["target_mean"] < 105 and 5 < stats["target_std"] < 20
    validation = run.history[run.history.kind == "validation"]
    assert len(validation) == FAST["epochs"] and validation.r2.iloc[-1] > validation.r2.iloc[0]
    pairs = np.array(run.test_report.pairs)
    assert pairs.shape == (60, 2) and 70 <= pairs[:, 0].min() and pairs[:, 0].max() <= 130
    # the scatter's pairs give back the reported error
    assert np.isclose(np.abs(pairs[:, 1] - pairs[:, 0]).mean(), test["mae"], rtol=1e-5)


@pytest.mark.slow
def test_regression_predict_gives_numbers(regression_run):
    run, _ = regression_run
    frame = run.predict(["w1 sport w2 w3", "w1 food w2 w3", "w1 w2 w3"])
    assert list(frame.columns) == ["text", "prediction"] and frame.prediction.dtype == np.float64
    sport, food, plain = frame.prediction
    assert sport > plain + 8 and food < plain - 4
    assert run.predict([]).shape == (0, 2)


@pytest.mark.slow
def test_regression_evaluates_new_data_and_saves_bit_exact(regression_run, tmp_path):
    run, _ = regression_run
    texts, present = synthetic(80, seed=9)
    scores = [score_of(k) for k in present]
    fresh = run.evaluate({"review": texts, "score": scores})
    assert fresh["r2"] > 0.5
    loaded = jaxtext.load(run.save(tmp_path / "run"))
    assert params_equal(run, loaded) and loaded.task_params == run.task_params
    assert loaded.task == "regression" and loaded.config.label_column == "score"
    np.testing.assert_array_equal(loaded.predict(texts).prediction, run.predict(texts).prediction)
    assert loaded.evaluate({"review": texts, "score": scores}) == fresh



@pytest.mark.slow
def test_the_shell_predicts_numbers_and_label_lists(regression_run, multilabel_run, tmp_path,
                                                    capsys):
    from jaxtext import cli

    for name, (run, _) in (("reg", regression_run), ("tags", multilabel_run)):
        folder = run.save(tmp_path / name)
        capsys.readouterr()
        assert cli.main(["predict", str(folder), "w1 sport w2 w3 w4 w5 music w6"]) == 0
        answer = capsys.readouterr().out.split("\t")[0]
        expected = run.predict(["w1 sport w2 w3 w4 w5 music w6"]).iloc[0, 1]
        if name == "reg":
            assert float(answer) == pytest.approx(expected, rel=1e-5)
        else:
            assert answer == ",".join(expected)


@pytest.mark.slow
def test_regression_dashboard_shows_predicted_vs_true(regression_run):
    run, dash = regression_run
    w = dash.w
    assert "confusion" not in w and "per_class" not in w
    assert w["scatter"].value.startswith("<svg") and "predicted vs true (test" in w["scatter"].value
    spec = charts.scatter_chart(run.test_report.pairs).to_dict()
    points = [r for r in _values(spec) if "error" in r]
    assert len(points) == 60 and points[0]["error"] == pytest.approx(
        points[0]["predicted"] - points[0]["true"])
    assert [p.name for p in layout("regression")["classes"]] == ["scatter"]
    assert "data:image/png" in dash.summary_html and "completed" in dash.summary_html


def _task_events(task: str):
    """A one-epoch event stream of a regression or multilabel run, as the trainer emits it."""
    from jaxtext import events as ev

    yield ev.TrainBegin(run_name=f"synthetic-{task}", task=task, model="mlp", data="synthetic",
                        config={}, num_params=1000, devices=["cpu:0"],
                        dataset_sizes={"train": 80, "validation": 10, "test": 10},
                        label_names=[] if task == "regression" else ["a", "b"], epochs=1,
                        steps_per_epoch=4, total_steps=4, batch_size=20)
    yield ev.StepLog(step=4, epoch=1, total_steps=4, examples_seen=80, examples_per_s=800.0,
                     elapsed_s=0.1, eta_s=0.0, lr=1e-3, loss=0.5, accuracy=None)
    if task == "regression":
        metrics = {"r2": 0.8, "mae": 1.5, "rmse": 2.0, "loss": 0.2}
        result = ev.EvalResult(split="test", epoch=1, step=4, metrics=metrics,
                               pairs=[[10.0, 11.5], [20.0, 18.0], [30.0, 31.0]])
    else:
        metrics = {"micro_f1": 0.9, "macro_f1": 0.85, "loss": 0.3, "threshold": 0.4}
        result = ev.EvalResult(split="test", epoch=1, step=4, metrics=metrics,
                               label_names=["a", "b"], per_class=[
                                   {"label": "a", "precision": 0.9, "recall": 0.8, "f1": 0.85,
                                    "support": 6},
                                   {"label": "<b>", "precision": 1.0, "recall": 0.7, "f1": 0.82,
                                    "support": 4}])
    yield ev.EpochEnd(epoch=1, step=4, elapsed_s=0.2, train={"loss": 0.5}, validation=metrics,
                      is_best=True)
    yield result
    yield ev.TrainEnd(step=4, elapsed_s=0.3, status="completed", message="", test=metrics)


def test_dashboard_values_for_regression_and_multilabel_runs():
    regression = Dashboard(display=False)
    for event in _task_events("regression"):
        regression(event)
    w = regression.w
    assert "confusion" not in w and "per_class" not in w and "examples" not in w
    assert w["scatter"].value.startswith("<svg") and "predicted vs true (test" in w["scatter"].value
    assert "r2 0.8 mae 1.5 rmse 2" in w["message"].value  # the test metrics, in the header
    assert regression.errors == []

    tags = Dashboard(display=False)
    for event in _task_events("multilabel"):
        tags(event)
    w = tags.w
    assert "scatter" not in w and "confusion" not in w
    assert "macro avg" in w["per_class"].value and "&lt;b&gt;" in w["per_class"].value
    assert w["validation"].value.startswith("<svg") and tags.errors == []


def _values(spec) -> list[dict]:
    """Every inline data row of a Vega-Lite spec."""
    rows = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "datasets":
                rows += [row for values in value.values() for row in values]
            else:
                rows += _values(value)
    elif isinstance(spec, list):
        for item in spec:
            rows += _values(item)
    return rows


def test_regression_losses_and_metrics_match_their_formulas():
    predicted, target = np.array([0.0, 1.0, 4.0]), np.array([0.5, 1.0, 1.0])
    assert np.allclose(regression_error(predicted, target, "mse"), [0.25, 0.0, 9.0])
    assert np.allclose(regression_error(predicted, target, "mae"), [0.5, 0.0, 3.0])
    assert np.allclose(regression_error(predicted, target, "huber"), [0.125, 0.0, 2.5])
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert (m["r2"], m["mae"], m["rmse"]) == (1.0, 0.0, 0.0)
    constant = regression_metrics(np.full(3, 2.0), np.array([1.0, 2.0, 3.0]))
    assert constant["r2"] == 0.0  # the mean's score


@pytest.mark.slow
def test_regression_trains_with_the_mae_and_huber_losses(tmp_path):
    texts, present = synthetic(300, seed=3)
    data = {"text": texts, "label": [score_of(k) for k in present]}
    for loss in ("mae", "huber"):
        run = jaxtext.train(dict(FAST, task="regression", data=data, loss=loss), callbacks=[])
        assert run.config.loss == loss and run.test_metrics["r2"] > 0.2, (loss, run.test_metrics)


# ------------------------------------------------------------------------------ multilabel


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    """A multilabel run on a JSON-lines file (a list of labels per line), threshold tuned."""
    texts, present = synthetic(600, seed=1)
    path = tmp_path_factory.mktemp("multilabel") / "tags.jsonl"
    path.write_text("".join(json.dumps({"text": t, "tags": k}) + "\n"
                            for t, k in zip(texts, present, strict=True)))
    dash = Dashboard(display=False)
    run = jaxtext.train(dict(FAST, task="multilabel", data=f"json:{path}", label_column="tags",
                             threshold="tune"), callbacks=[dash])
    return run, dash


@pytest.mark.slow
def test_multilabel_learns_and_tunes_its_threshold(multilabel_run):
    run, _ = multilabel_run
    assert run.status == "completed" and run.label_names == ["food", "music", "sport"]
    test = run.test_metrics
    # all-negative predictions score micro-F1 0; all-positive about 0.5 (35 % of labels apply)
    assert test["micro_f1"] > 0.8 and test["macro_f1"] > 0.75, test
    tuned = run.task_params["threshold"]
    validation = run.history[run.history.kind == "validation"]
    assert tuned == validation.threshold.iloc[-1] == test["threshold"] == run.threshold
    assert 0.05 <= tuned <= 0.95
    per_class = {c["label"]: c for c in run.test_report.per_class}
    assert set(per_class) == set(KEYWORDS) and all(c["f1"] > 0.6 for c in per_class.values())


@pytest.mark.slow
def test_multilabel_predict_gives_label_lists(multilabel_run):
    run, _ = multilabel_run
    frame = run.predict(["w1 w2 sport w3 w4 w5 music w6", "w1 w2 w3 w4 w5 w6"])
    assert list(frame.columns) == ["text", "labels", "food", "music", "sport"]
    assert {"music", "sport"} <= set(frame.labels[0]) and frame.labels[1] == []
    assert frame.food[0] < min(frame.music[0], frame.sport[0])
    probs = frame[["food", "music", "sport"]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    # the lists are the probabilities at the run's threshold
    assert [[n for n in ("food", "music", "sport") if row[n] >= run.threshold]
            for _, row in frame.iterrows()] == list(frame.labels)


@pytest.mark.slow
def test_multilabel_saves_bit_exact_with_its_threshold(multilabel_run, tmp_path):
    run, dash = multilabel_run
    loaded = jaxtext.load(run.save(tmp_path / "run"))
    assert params_equal(run, loaded) and loaded.task_params == run.task_params
    assert loaded.threshold == run.threshold
    texts, _ = synthetic(40, seed=5)
    pd.testing.assert_frame_equal(loaded.predict(texts), run.predict(texts))
    assert "macro avg" in dash.w["per_class"].value and "confusion" not in dash.w


def test_multilabel_metrics_count_per_label():
    probs = np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
    targets = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    m = multilabel_metrics(probs, targets, ["a", "b"], threshold=0.5)
    a, b = m["per_class"]
    assert (a["precision"], a["recall"], a["support"]) == (0.5, 1.0, 1)
    assert (b["precision"], b["recall"], b["support"]) == (1.0, 0.5, 2)
    assert m["micro_f1"] == pytest.approx(2 / 3)  # tp 2, fp 1, fn 1
    assert best_threshold(probs, targets) == 0.4  # 0.35..0.4 all perfect: nearest 0.5


def test_a_fixed_threshold_is_used_as_given():
    texts, present = synthetic(200, seed=2)
    run = jaxtext.train(dict(FAST, task="multilabel", data={"text": texts, "label": present},
                             threshold=0.3, epochs=1), callbacks=[])
    assert run.threshold == 0.3 and "threshold" not in run.test_metrics
    assert "threshold" not in run.task_params


# ------------------------------------------------------------------ every model, every task


def _product_batch(task: str):
    from jaxtext.data import Batch

    rng = np.random.default_rng(0)
    lengths = np.array([12, 7, 1, 0])
    mask = np.arange(12)[None, :] < lengths[:, None]
    tokens = np.where(mask, rng.integers(1, 40, mask.shape), 0).astype(np.int32)
    labels = (rng.normal(size=4).astype(np.float32) if task == "regression"
              else (rng.random((4, 3)) < 0.5).astype(np.float32))
    return Batch(tokens, mask, labels, np.asarray(mask.any(1), np.float32), None)


@pytest.mark.parametrize("task", ["regression", "multilabel"])
@pytest.mark.parametrize("name", models.names())
def test_the_product_step_trains_every_model_on_every_new_task(name, task):
    """The trainer's jitted step, for each registered model: the task only sizes the head."""
    cfg = jaxtext.Config.from_dict({"model": name, "task": task})
    outputs = 1 if task == "regression" else 3
    model = init_model_state(cfg, Dims(40, outputs, 12, task))
    assert jax.eval_shape(model.module(), jnp.zeros((4, 12), jnp.int32),
                          jnp.ones((4, 12), bool)).shape == (4, outputs)
    spec = OptimizerSpec.from_config(cfg, total_steps=10)
    tx = make_optimizer(spec)
    step = train_step_fn(model, tx, task, spec, cfg.loss)
    params, rest, opt_state = jax.tree.map(jnp.copy, (model.params, model.rest,
                                                      tx.init(model.params)))
    new_params, _, opt_state, sums, _ = step(params, rest, opt_state, zero_sums(),
                                             _product_batch(task))
    assert np.isfinite(float(sums["loss"])) and float(sums["count"]) == 3
    assert int(opt_state.total_notfinite) == 0
    old, new = nnx.to_flat_state(model.params), dict(nnx.to_flat_state(new_params))
    assert any(not np.array_equal(v[...], new[p][...]) for p, v in old)


# ------------------------------------------------------------------------------ bad input


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and len(text) < 300, text
    return text


def test_a_non_numeric_regression_target_names_the_column_and_the_value():
    data = {"text": ["a b", "c d", "e f"] * 10, "score": ["1.5", "2", "lots"] * 10}
    with pytest.raises(DataError) as err:
        jaxtext.train(task="regression", data=data, label_column="score", callbacks=[])
    text = _one_line(err)
    assert "'score'" in text and "'lots'" in text and "row 2" in text


def test_a_constant_regression_target_is_refused():
    with pytest.raises(DataError) as err:
        jaxtext.train(task="regression", data={"text": ["a b", "c"] * 20, "label": [3] * 40},
                      callbacks=[])
    assert "every target in train is 3" in _one_line(err)


def test_multilabel_needs_lists_with_labels():
    texts = ["a b", "c d"] * 20
    with pytest.raises(DataError) as err:
        jaxtext.train(task="multilabel", data={"text": texts, "label": [[], []] * 20},
                      callbacks=[])
    assert "every label list" in _one_line(err) and "empty" in str(err.value)
    with pytest.raises(DataError) as err:
        jaxtext.train(task="multilabel", data={"text": texts, "label": ["x|y", "z"] * 20},
                      callbacks=[])
    assert "needs a list of labels per row" in _one_line(err) and "str.split" in str(err.value)
    with pytest.raises(DataError) as err:
        jaxtext.train(task="multilabel", data={"text": texts, "label": [["x", ""], ["y"]] * 20},
                      callbacks=[])
    assert "row 0" in _one_line(err)


@pytest.mark.parametrize("task, labels, what", [
    ("regression", [1.0, None, 2.0, 3.0], "target"),
    ("multilabel", [["x"], None, ["x", "y"], ["y"]], "label list"),
])
def test_rows_without_targets_are_dropped_and_an_empty_split_is_re_created(task, labels, what):
    texts = [f"w{i} w{i + 1}" for i in range(40)]
    data = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": texts, "label": labels * 10}),
        validation=datasets.Dataset.from_dict({"text": texts[:8], "label": [None] * 8}))
    with pytest.warns(UserWarning) as caught:
        run = jaxtext.train(task=task, data=data, epochs=1, callbacks=[],
                            **{k: v for k, v in FAST.items() if k != "epochs"})
    said = " | ".join(str(w.message) for w in caught)
    assert f"dropped 10 of 40 rows without a {what} from split 'train'" in said, said
    assert f"split 'validation' has no {what}s; re-creating it from train" in said, said
    assert run.trained.data.size("train") + run.trained.data.size("validation") <= 30


@pytest.mark.parametrize("settings, words", [
    ({"task": "regression", "loss": "l1"}, "mse, mae, huber"),
    ({"task": "classify", "loss": "mae"}, "set task: regression"),
    ({"task": "multilabel", "threshold": 1.5}, "between 0 and 1"),
    ({"task": "multilabel", "threshold": "auto"}, "'tune'"),
    ({"task": "regression", "monitor": "accuracy"}, "r2, mae, rmse, loss"),
    ({"task": "regresion"}, "did you mean 'regression'"),
])
def test_task_settings_are_checked(settings, words):
    with pytest.raises(ConfigError) as err:
        jaxtext.Config.from_dict(settings)
    assert words in _one_line(err)


@pytest.mark.slow
def test_predict_and_evaluate_refuse_what_the_task_cannot_use(regression_run):
    run, _ = regression_run
    with pytest.raises(ConfigError) as err:
        run.confusion_matrix  # noqa: B018
    assert "task: classify" in _one_line(err)
    with pytest.raises(DataError) as err:
        run.evaluate({"review": ["w1 sport"], "score": ["high"]})
    assert "'high'" in _one_line(err)


# ------------------------------------------------------------------------------ text pairs


def synthetic_pairs(n: int, seed: int = 0):
    """(premises, hypotheses, labels): "same" when both texts share their keyword. Each text
    alone says nothing about the label (every keyword is equally likely under both labels),
    so a model must read both."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(40)]

    def sentence(keyword):
        words = list(rng.choice(filler, rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), keyword)
        return " ".join(words)

    premises, hypotheses, labels = [], [], []
    for _ in range(n):
        a = str(rng.choice(KEYWORDS))
        same = bool(rng.random() < 0.5)
        b = a if same else str(rng.choice([k for k in KEYWORDS if k != a]))
        premises.append(sentence(a))
        hypotheses.append(sentence(b))
        labels.append("same" if same else "different")
    return premises, hypotheses, labels


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    premises, hypotheses, labels = synthetic_pairs(800)
    path = tmp_path_factory.mktemp("pairs") / "pairs.csv"
    pd.DataFrame({"premise": premises, "hypothesis": hypotheses, "label": labels}).to_csv(
        path, index=False)
    return jaxtext.train(dict(FAST, data=f"csv:{path}", text_column="premise",
                              text_pair="hypothesis", layers=1, hidden=64, epochs=6),
                         callbacks=[])


@pytest.mark.slow
def test_a_pair_classifier_reads_both_texts(pair_run):
    run = pair_run
    assert run.status == "completed" and run.label_names == ["different", "same"]
    assert run.test_metrics["accuracy"] > 0.7, run.test_metrics  # chance: 0.5


@pytest.mark.slow
def test_a_pair_run_predicts_pairs_and_saves_bit_exact(pair_run, tmp_path):
    run = pair_run
    pairs = [("w1 sport w2 w3", "w4 sport w5"), ("w1 sport w2 w3", "w4 food w5")]
    frame = run.predict(pairs)
    assert list(frame.columns) == ["text", "text_pair", "label", "different", "same"]
    assert list(frame.text_pair) == ["w4 sport w5", "w4 food w5"]
    assert run.predict(pairs[0]).shape[0] == 1
    loaded = jaxtext.load(run.save(tmp_path / "run"))
    assert params_equal(run, loaded) and loaded.config.text_pair == "hypothesis"
    pd.testing.assert_frame_equal(loaded.predict(pairs), frame)
    premises, hypotheses, labels = synthetic_pairs(60, seed=4)
    fresh = loaded.evaluate({"premise": premises, "hypothesis": hypotheses, "label": labels})
    assert fresh["accuracy"] > 0.6
    with pytest.raises(ConfigError) as err:
        run.predict("w1 sport")
    assert "(text, text_pair)" in _one_line(err)


def test_a_pair_is_one_sequence_with_a_separator_cut_longest_first():
    from jaxtext.data import EOS_ID, TextTokenizer
    from jaxtext.data.texts import encode_texts

    tok = TextTokenizer.train("word", ["a b c d e f g h"], 50, True)
    encoded = encode_texts(tok, [("a b", "c d e"), ("a b c d e f g h", "a b")], max_len=6)
    first, second = encoded.tokens(0).tolist(), encoded.tokens(1).tolist()
    a_b, c_d_e = (tok.encode([t])[0].tolist() for t in ("a b", "c d e"))
    assert first == [*a_b, EOS_ID, *c_d_e]  # fits: kept whole
    # too long: the longer first text gives way, the short second one stays whole
    assert second == [*tok.encode(["a b c"])[0].tolist(), EOS_ID, *a_b]


def test_pairs_load_tokenize_and_show_as_both_texts():
    from jaxtext.data import EOS_ID, encode_splits, load_data, train_tokenizer

    premises, hypotheses, labels = synthetic_pairs(60)
    loaded = load_data({"p": premises, "h": hypotheses, "y": labels}, text_column="p",
                       label_column="y", text_pair="h")
    assert set(loaded.splits["train"].column_names) == {"text", "text_pair", "label"}
    tok = train_tokenizer(loaded, "word", 100)
    assert tok.encode(["sport"])[0][0] > EOS_ID  # the keywords of both columns are words
    train = encode_splits(loaded, tok, max_len=24)["train"]
    first = loaded.splits["train"][0]
    assert train.texts([0]) == [first["text"] + " ‖ " + first["text_pair"]]
    assert train.tokens(0).tolist() == [*tok.encode([first["text"]])[0].tolist(), EOS_ID,
                                        *tok.encode([first["text_pair"]])[0].tolist()]


def test_a_missing_pair_column_is_named():
    data = {"premise": ["a b", "c d"] * 10, "hypothesis": ["e", "f"] * 10, "label": [0, 1] * 10}
    with pytest.raises(DataError) as err:
        jaxtext.train(data=data, text_column="premise", text_pair="hypotesis", callbacks=[])
    text = _one_line(err)
    assert "no text_pair column 'hypotesis'" in text and "did you mean 'hypothesis'" in text
    with pytest.raises(ConfigError) as err:
        jaxtext.Config.from_dict(task="lm", text_pair="hypothesis")
    assert "drop text_pair" in _one_line(err)


@pytest.mark.slow
def test_a_regression_cell_in_a_real_shell(capsys):
    """%%train with task: regression binds the run; its summary line gives the test r2."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    if "jaxtext" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "jaxtext")
    magics = ip.magics_manager.registry["JaxtextMagics"]
    texts, present = synthetic(400, seed=7)
    ip.user_ns["scores_df"] = pd.DataFrame({"text": texts,
                                            "score": [score_of(k) for k in present]})
    ip.run_line_magic("config", "JaxtextMagics.callbacks = []")
    try:
        ip.run_cell("%%train scores --data $scores_df\ntask: regression\nlabel_column: score\n"
                    "model: mlp\nepochs: 4\nmax_len: 24\nvocab_size: 100\nlr: 0.03")
        run = ip.user_ns["scores"]
        assert run.task == "regression" and run.status == "completed"
        assert capsys.readouterr().out.strip().endswith(
            f"scores: completed, test r2 {run.test_metrics['r2']:.4f}")
        frame = ip.run_line_magic("predict", "scores w1 sport w2 w3")
        plain = run.predict(["w1 w2 w3 w4"]).prediction[0]
        assert list(frame.columns) == ["text", "prediction"] and frame.prediction[0] > plain
    finally:
        for name in ("scores", "scores_df"):
            ip.user_ns.pop(name, None)
        magics.set_trait("callbacks", magics.trait_defaults("callbacks"))


@pytest.mark.slow
def test_checkpoints_keep_the_task_params(tmp_path):
    """A run folder and its checkpoints carry the target stats and the tuned threshold."""
    texts, present = synthetic(300, seed=6)
    run = jaxtext.train(dict(FAST, task="multilabel", data={"text": texts, "label": present},
                             threshold="tune", epochs=2, out=str(tmp_path / "tags"),
                             checkpoint_every=4), callbacks=[])
    saved = jaxtext.load(tmp_path / "tags")
    assert saved.task_params == run.task_params and "threshold" in run.task_params
    best = jaxtext.load(tmp_path / "tags" / "checkpoints" / "best")
    assert 0.05 <= best.task_params["threshold"] <= 0.95
    scores = [score_of(k) for k in present]
    run = jaxtext.train(dict(FAST, task="regression", data={"text": texts, "label": scores},
                             epochs=1, out=str(tmp_path / "reg"), checkpoint_every=4),
                        callbacks=[])
    step = jaxtext.load(sorted((tmp_path / "reg" / "checkpoints").glob("step-*"))[0])
    assert step.task_params == run.task_params and set(run.task_params) == {"target_mean",
                                                                            "target_std"}
