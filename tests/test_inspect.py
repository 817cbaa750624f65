"""Inspecting trained runs: the model summary, the highest-loss examples and run comparisons,
from Python, the magics (a real InteractiveShell) and the CLI (a real subprocess)."""

from __future__ import annotations

import html
import math
import os
import subprocess
import sys
from collections import Counter

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from IPython.core.error import UsageError

import jaxtext
from jaxtext import events as ev
from jaxtext.magics.parsing import CompareCommand
from jaxtext.widgets import report
from jaxtext.widgets.compare import comparison_chart

SECOND = {**TINY, "epochs": 2, "limit": 600, "lr": 5e-3, "dim": 8, "name": "second"}


@pytest.fixture(scope="module")
def second_run():
    return jaxtext.train(SECOND, callbacks=[])


@pytest.fixture(scope="module")
def saved_second(second_run, tmp_path_factory):
    return second_run.save(tmp_path_factory.mktemp("inspect") / "second")


# -- the model summary ----------------------------------------------------------------------


def test_summary_counts_and_shapes_are_the_model_arrays(tiny_run):
    summary = tiny_run.summary()
    assert isinstance(summary, jaxtext.ModelSummary)
    assert summary.num_params == tiny_run.num_params
    leaves = jax.tree.leaves(tiny_run.model_state.params)
    listed = [tuple(s) for layer in summary.layers for s in layer["shapes"].values()]
    assert Counter(listed) == Counter(tuple(x.shape) for x in leaves)
    for layer in summary.layers:
        assert layer["params"] == sum(math.prod(s) for s in layer["shapes"].values())
    by_name = {layer["layer"]: layer for layer in summary.layers}
    assert by_name["embed"]["type"] == "Embed"
    assert by_name["embed"]["shapes"]["embedding"] == [tiny_run.dims.vocab_size, TINY["dim"]]
    assert by_name["head.out"]["shapes"]["kernel"] == [TINY["dim"], 2]
    assert summary.param_bytes == sum(x.nbytes for x in leaves)
    # AdamW keeps two moments per weight (plus a few counters)
    opt_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(tiny_run.opt_state))
    assert summary.opt_state_bytes == opt_bytes >= 2 * summary.param_bytes


def test_summary_views_and_the_begin_event(tiny_run):
    summary = tiny_run.summary()
    assert tiny_run.record.begin.model_summary == summary.to_dict()
    text = str(summary)
    assert text.splitlines()[0].startswith(f"mlp: {tiny_run.num_params:,} parameters")
    assert "embed" in text and f"embedding {tiny_run.dims.vocab_size}x{TINY['dim']}" in text
    frame = summary.frame()
    assert list(frame.columns) == ["layer", "type", "params", "shapes"]
    assert frame.params.sum() == tiny_run.num_params
    assert "<table" in summary._repr_html_()
    # the dashboard header folds the same table under a "model" toggle
    header = report.header_html(tiny_run.record.begin)
    assert "<details" in header and ">head.out<" in header
    assert f"model: {tiny_run.num_params:,} parameters" in header
    old = ev.TrainBegin(**{**tiny_run.record.begin.__dict__, "model_summary": {}})
    assert "<details" not in report.header_html(old)  # a run saved before summaries
    # the run's own overview stays its notebook view
    assert "jaxtext run" in tiny_run._repr_html_()


def test_dashboard_replay_shows_the_model_toggle_and_the_same_mistakes(tiny_run):
    from jaxtext.widgets import Dashboard

    dash = Dashboard(display=False)
    for event in tiny_run.record.events:
        dash(event)
    assert dash.errors == []
    assert '<details class="jaxtext-model"' in dash.w["header"].value
    assert '<details class="jaxtext-model"' in dash.summary_html  # the static summary too
    everything = tiny_run.top_losses(10_000)
    first = everything[everything.true != everything.predicted].text.iloc[0]
    assert html.escape(first, quote=True) in dash.w["examples"].value


def test_summary_text_keeps_long_tables_short():
    summary = jaxtext.ModelSummary("m", [{"layer": f"l{i}", "type": "Linear", "params": 10,
                                          "shapes": {"kernel": [2, 5]}} for i in range(5)])
    lines = summary.text(max_rows=2).splitlines()
    assert lines[-1] == "  … 3 more layers, 30 parameters" and len(lines) == 5


def test_summary_of_a_loaded_run_is_the_same(second_run, saved_second):
    loaded = jaxtext.load(saved_second)
    assert loaded.summary() == second_run.summary()
    assert loaded.record.begin.model_summary == second_run.summary().to_dict()  # history.json


# -- the highest-loss examples --------------------------------------------------------------


def _test_split(run):
    split = run._prepared().loaded.splits["test"]
    return list(split["text"]), np.asarray(split["label"])


def test_top_losses_are_the_highest_losses(tiny_run):
    texts, labels = _test_split(tiny_run)
    probs = tiny_run.predict(texts)[tiny_run.label_names].to_numpy()
    losses = -np.log(probs[np.arange(len(labels)), labels])
    top = tiny_run.top_losses(10)
    assert list(top.columns) == ["text", "true", "predicted", "probability", "loss"]
    assert len(top) == 10 and top.loss.is_monotonic_decreasing
    np.testing.assert_allclose(top.loss, np.sort(losses)[::-1][:10], rtol=1e-4)
    row = {text: i for i, text in enumerate(texts)}
    for _, r in top.iterrows():
        i = row[r.text]
        assert r.true == tiny_run.label_names[labels[i]]
        assert r.predicted == tiny_run.label_names[probs[i].argmax()]
        assert r.probability == pytest.approx(probs[i].max(), abs=1e-5)


def test_dashboard_mistakes_are_the_top_losses_that_are_wrong(tiny_run):
    everything = tiny_run.top_losses(10_000)
    assert len(everything) == 1066  # k beyond the split: all of it, ranked
    wrong = everything[everything.true != everything.predicted].head(5)
    shown = tiny_run.record.evals["test"].examples
    assert [e["text"] for e in shown] == list(wrong.text)
    assert [e["predicted"] for e in shown] == list(wrong.predicted)


def test_top_losses_on_other_splits_and_new_data(tiny_run):
    validation = tiny_run.top_losses(3, split="validation")
    assert len(validation) == 3 and validation.loss.is_monotonic_decreasing
    data = pd.DataFrame({"text": ["a wonderful film", "dull and lifeless", "great fun"],
                         "label": ["negative", "positive", "positive"]})
    new = tiny_run.top_losses(2, split=data)
    probs = tiny_run.predict(list(data.text))[tiny_run.label_names].to_numpy()
    losses = -np.log(probs[[0, 1, 2], [0, 1, 1]])
    np.testing.assert_allclose(new.loss, np.sort(losses)[::-1][:2], rtol=1e-4)
    assert len(tiny_run.top_losses(0)) == 0


@pytest.mark.parametrize("k", [-1, 2.5, "3", True])
def test_top_losses_bad_k_is_one_line(tiny_run, k):
    with pytest.raises(jaxtext.ConfigError, match="top_losses takes k"):
        tiny_run.top_losses(k)


@pytest.mark.slow
def test_top_losses_is_for_classifiers():
    lm = jaxtext.train({"task": "lm", "model": "mlp", "data": "rotten_tomatoes",
                        "tokenizer": "char", "max_len": 32, "epochs": 1, "limit": 200,
                        "sample_tokens": 0, "batch_size": 32}, callbacks=[])
    with pytest.raises(jaxtext.ConfigError, match=r"top_losses\(\) is for classifiers"):
        lm.top_losses()
    assert lm.summary().num_params == lm.num_params


# -- comparing runs ---------------------------------------------------------------------------


def test_compare_in_memory_and_saved_runs(tiny_run, second_run, saved_second):
    both = jaxtext.compare(tiny_run, second_run)
    loaded = jaxtext.compare(tiny_run, str(saved_second))
    assert both.runs == loaded.runs == [tiny_run.name, "second"]
    pd.testing.assert_frame_equal(both.curves, loaded.curves)
    a, b = tiny_run.config.to_dict(), second_run.config.to_dict()
    differ = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} - {"name"}
    assert set(both.differences) == differ and {"lr", "epochs", "dim", "limit"} <= differ
    assert both.differences["lr"] == {tiny_run.name: TINY["lr"], "second": SECOND["lr"]}
    assert list(both.config_table().columns) == list(both.differences)
    final = both.final
    assert final.loc["second", "test_accuracy"] == second_run.test_metrics["accuracy"]
    last_val = tiny_run.history[tiny_run.history.kind == "validation"].iloc[-1]
    assert final.loc[tiny_run.name, "validation_loss"] == last_val.loss


def test_compare_aligns_by_step_epoch_and_time(tiny_run, second_run):
    by_step = jaxtext.compare(tiny_run, second_run, metric="accuracy")
    mine = by_step.curves[by_step.curves.run == tiny_run.name]
    history = tiny_run.history
    train = history[history.kind == "train"]
    assert list(mine[mine.split == "train"].step) == list(train.step)
    assert list(mine[mine.split == "train"].value) == list(train.accuracy)
    by_epoch = jaxtext.compare(tiny_run, second_run, by="epoch")
    assert by_epoch.x == "epoch"
    val = by_epoch.curves[by_epoch.curves.split == "validation"]
    assert sorted(val[val.run == "second"].epoch) == [1.0, 2.0]  # epoch ends, exactly
    assert val[val.run == tiny_run.name].epoch.tolist() == [1.0, 2.0, 3.0]
    by_time = jaxtext.compare(tiny_run, second_run, by="time")
    assert by_time.x == "elapsed_s" and (by_time.curves.elapsed_s > 0).all()


def test_compare_shows_one_chart_and_the_tables(tiny_run, second_run):
    comparison = jaxtext.compare(tiny_run, second_run, by="epoch")
    spec = comparison_chart(comparison).to_dict()
    names = {row["run"] for row in next(iter(spec["datasets"].values()))}
    assert names == {tiny_run.name, "second"} and spec["layer"][0]["encoding"]["x"]["field"] \
        == "epoch"
    html = comparison._repr_html_()  # found through the jaxtext.views entry point
    assert "data:image/png" in html and "final metrics" in html and "lr" in html
    text = repr(comparison)
    assert "config keys that differ" in text and "second" in text


def test_compare_names_and_mistakes(tiny_run):
    same = jaxtext.compare(tiny_run, tiny_run)
    assert same.runs == [tiny_run.name, f"{tiny_run.name} #2"] and same.differences == {}
    assert "same config keys" in repr(same)
    with pytest.raises(jaxtext.ConfigError, match="did you mean 'epoch'"):
        jaxtext.compare(tiny_run, by="epochs")
    with pytest.raises(jaxtext.ConfigError, match="no run has a 'acc' curve; metrics: accuracy, "):
        jaxtext.compare(tiny_run, metric="acc")
    with pytest.raises(jaxtext.ConfigError, match="compare takes runs or saved run folders"):
        jaxtext.compare(tiny_run, 3)
    with pytest.raises(jaxtext.ConfigError, match="compare needs runs"):
        jaxtext.compare()
    with pytest.raises(jaxtext.RunFolderError):
        jaxtext.compare(tiny_run, "no/such/run")


# -- the magics and the CLI -------------------------------------------------------------------


def test_compare_command_parsing():
    assert CompareCommand.parse("a b --by=time --metric accuracy") == CompareCommand(
        ["a", "b"], "time", "accuracy")
    for line, message in [("", "nothing to compare"), ("a --by", "--by needs a value"),
                          ("a --smooth 2", "unknown option '--smooth'")]:
        with pytest.raises(jaxtext.ConfigError, match=message):
            CompareCommand.parse(line)


def test_magics_summary_and_compare(ip, tiny_run, saved_second):
    ip.user_ns["clf"] = tiny_run
    assert ip.run_line_magic("jaxtext", "summary clf") == tiny_run.summary()
    comparison = ip.run_line_magic("jaxtext", f"compare clf '{saved_second}' --by epoch")
    assert comparison.runs == [tiny_run.name, "second"] and comparison.by == "epoch"
    with pytest.raises(UsageError, match="no run named 'clff'"):
        ip.run_line_magic("jaxtext", "summary clff")
    with pytest.raises(UsageError, match="usage: %jaxtext summary NAME"):
        ip.run_line_magic("jaxtext", "summary")
    ip.user_ns["frame"] = pd.DataFrame()  # not a run, though it has methods of its own
    with pytest.raises(UsageError, match="'frame' is a DataFrame, not a run"):
        ip.run_line_magic("jaxtext", "summary frame")
    with pytest.raises(UsageError, match="did you mean 'clf'"):
        ip.run_line_magic("jaxtext", "compare clf clff")
    with pytest.raises(UsageError, match="did you mean 'epoch'"):
        ip.run_line_magic("jaxtext", "compare clf --by epochs")
    with pytest.raises(UsageError, match="unknown command 'sumary' \\(did you mean 'summary'"):
        ip.run_line_magic("jaxtext", "sumary clf")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxtext", *args], capture_output=True,
                          text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=600)


def test_cli_summary_and_compare(tiny_run, second_run, saved_second, tmp_path):
    first = tiny_run.save(tmp_path / "first")
    summary = _cli("summary", str(saved_second))
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.strip() == second_run.summary().text()
    out = _cli("compare", str(first), str(saved_second), "--by", "epoch")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == jaxtext.compare(first, saved_second, by="epoch").text()
    assert "config keys that differ" in out.stdout and "lr" in out.stdout
    bad = _cli("compare", str(first), "--by", "epochs")
    assert bad.returncode == 2 and "did you mean 'epoch'" in bad.stderr
