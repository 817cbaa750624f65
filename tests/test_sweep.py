"""Sweeps: a vmapped group trains exactly what ``jaxtext.train`` trains per configuration, with
one compile; shape-changing configurations are grouped; mistakes are one line; the magic and the
CLI drive the same engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import Recorder
from IPython.core.error import UsageError

import jaxtext
from jaxtext import events as ev
from jaxtext.sweeps import plan_sweep
from jaxtext.training import sweep_step, sweep_trainer

# max_len 16 is a single bucket width: one batch shape, so one trace per group
SMALL = dict(model="mlp", data="rotten_tomatoes", limit=600, epochs=2, batch_size=32,
             vocab_size=2000, max_len=16, log_every=5, dim=8, ngram_buckets=512,
             eval_limit=200)


def _leaves(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def _max_difference(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(_leaves(a), _leaves(b), strict=True))




@pytest.fixture(scope="module")
def swept():
    """lr x grad_clip (4 configurations, one group), traces counted from a cold cache."""
    sweep_step._CACHE.clear()
    sweep_step.TRACES.clear()
    recorder = Recorder()
    result = jaxtext.sweep(SMALL, lr=[1e-2, 3e-2], grad_clip=[0.05, 1.0], callbacks=[recorder])
    return result, dict(sweep_step.TRACES), recorder.events


def test_a_vmapped_sweep_trains_what_train_trains_for_each_config(swept):
    result, _, _ = swept
    assert [run.status for run in result.runs] == ["completed"] * 4
    for index, run in zip(result.indices, result.runs, strict=True):
        cfg = result.plan.configs[index]
        alone = jaxtext.train({**SMALL, "lr": cfg.lr, "grad_clip": cfg.grad_clip}, callbacks=[])
        assert alone.steps == run.steps
        assert _max_difference(alone.model_state.params, run.model_state.params) < 1e-4
        assert _max_difference(alone.opt_state, run.opt_state) < 1e-4
        for key, value in alone.test_metrics.items():
            assert run.test_metrics[key] == pytest.approx(value, abs=1e-3)
    # the four really differ: the sweep did not train one configuration four times
    params = [_leaves(run.model_state.params)[0] for run in result.runs]
    assert all(not np.allclose(params[0], p) for p in params[1:])


def test_one_compile_serves_the_whole_group(swept):
    result, traces, _ = swept
    assert len(result.plan.groups) == 1 and len(result.runs) == 4
    assert traces == {"train": 1}


def test_the_table_is_ranked_and_best_is_its_top(swept, tmp_path):
    result, _, _ = swept
    table = result.table
    assert list(table.columns[:3]) == ["lr", "grad_clip", "status"]
    accuracy = table["validation_accuracy"].tolist()
    assert accuracy == sorted(accuracy, reverse=True) and len(table) == 4
    assert {"test_accuracy", "test_loss", "validation_loss"} <= set(table.columns)
    best = result.best
    assert best is result[int(table.index[0])]
    assert best.config.lr == table.iloc[0]["lr"]
    frame = best.predict(["a wonderful film", "dull"])
    assert list(frame.columns) == ["text", "label", "negative", "positive"]
    loaded = jaxtext.load(best.save(tmp_path / "best"))  # a sweep's run saves like any run
    assert _max_difference(loaded.model_state.params, best.model_state.params) == 0.0
    assert _max_difference(loaded.opt_state, best.opt_state) == 0.0
    assert loaded.config.lr == best.config.lr and loaded.status == "completed"


def test_each_configuration_has_its_own_event_stream(swept):
    result, _, events = swept
    begin = [e for e in events if isinstance(e, ev.SweepBegin)]
    assert len(begin) == 1 and begin[0].values == result.plan.values
    items = [e for e in events if isinstance(e, ev.SweepItem)]
    for index in range(4):
        own = [e.event for e in items if e.index == index]
        assert isinstance(own[0], ev.TrainBegin) and isinstance(own[-1], ev.TrainEnd)
        assert len([e for e in own if isinstance(e, ev.EpochEnd)]) == 2
        logs = [e for e in own if isinstance(e, ev.StepLog)]
        assert logs and logs[-1].step == result[index].steps
        assert result[index].record.end == own[-1]  # the run's history is that stream
    end = [e for e in events if isinstance(e, ev.SweepEnd)]
    assert len(end) == 1 and [r["config"] for r in end[0].table] == list(result.table.index)


def test_each_seed_gets_its_own_initial_weights():
    plan = plan_sweep(SMALL, {"seed": [0, 7]})
    from jaxtext.data.prepare import prepare_data
    from jaxtext.training.session import Session
    from jaxtext.training.state import init_model_state

    data = prepare_data(plan.configs[0])
    group = sweep_trainer.GroupTrainer(plan.configs, [0, 1], data, Session([]))
    group._setup()
    for i, cfg in enumerate(plan.configs):
        alone = init_model_state(cfg, data.dims)
        assert _max_difference(alone.params, group.model(i).params) == 0.0
    assert _max_difference(group.model(0).params, group.model(1).params) > 0


def test_shape_changing_configs_are_grouped_and_each_group_runs():
    sweep_step.TRACES.clear()
    result = jaxtext.sweep({**SMALL, "epochs": 1}, dim=[8, 12], lr=[1e-2, 3e-2], callbacks=[])
    assert result.plan.groups == [[0, 1], [2, 3]]  # dim varies slowest: the grid's order
    assert [run.status for run in result.runs] == ["completed"] * 4
    widths = [run.model_state.params["embed"]["embedding"].value.shape[-1]
              for run in result.runs]
    assert widths == [8, 8, 12, 12]
    assert sweep_step.TRACES["train"] <= 2  # one per group (0 if an earlier test cached it)


def test_a_stop_returns_what_was_trained_so_far_interrupted():
    recorder = Recorder(stop_at=3)
    result = jaxtext.sweep({**SMALL, "epochs": 3}, dim=[8, 12], lr=[1e-2, 3e-2],
                           callbacks=[recorder])
    assert result.status == "interrupted"
    assert result.indices == [0, 1]  # the second group never started
    assert [run.status for run in result.runs] == ["interrupted"] * 2
    steps = result.runs[0].steps
    assert 3 <= steps < result.runs[0].total_steps
    assert result.runs[0].predict(["fine"]).shape[0] == 1
    assert "interrupted" in repr(result) and len(result.table) == 2


@pytest.mark.parametrize("sweep, message", [
    ({"lrr": [1, 2]}, "cannot sweep unknown key 'lrr' (did you mean 'lr'?)"),
    ({"lr": []}, "sweep lr has an empty list: give at least one value"),
    ({"lr": 0.1}, "sweep lr takes a list of values such as lr=[0.1, ...], not 0.1"),
    ({"lr": [0.1, 0.1]}, "sweep lr lists 0.1 twice; keep one"),
    ({}, "nothing to sweep"),
    ({"out": ["a", "b"]}, "cannot sweep out"),
    ({"lr": [0.1, -1.0]}, "sweep point lr=-1: lr must be positive, got -1.0"),
    ({"dim": ["wide"]}, "sweep point dim=wide: config key 'dim' must be int"),
])
def test_bad_sweeps_are_one_line_errors(sweep, message):
    with pytest.raises(jaxtext.ConfigError) as err:
        jaxtext.sweep(SMALL, callbacks=[], **sweep)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_early_stopping_is_refused_in_a_sweep():
    with pytest.raises(jaxtext.ConfigError, match="early_stopping is not supported"):
        jaxtext.sweep({**SMALL, "early_stopping": 2}, lr=[1e-2], callbacks=[])


# -- the magic and the CLI ---------------------------------------------------------------------


BODY = "\n".join(f"{k}: {v}" for k, v in {**SMALL, "epochs": 1}.items())


def test_the_sweep_magic_binds_a_sweep_result(ip, capsys):
    ip.run_cell_magic("sweep", "grid --callbacks none --sweep seed=0,1",
                      BODY + "\nsweep:\n  lr: [1e-2, 3e-2]")
    grid = ip.user_ns["grid"]
    assert isinstance(grid, jaxtext.SweepResult) and len(grid.runs) == 4
    assert grid.plan.keys == ["lr", "seed"] and grid.status == "completed"
    assert isinstance(grid.table, pd.DataFrame)
    assert "grid: 4 of 4 runs completed; best" in capsys.readouterr().out


@pytest.mark.parametrize("line, body, message", [
    ("grid", BODY, "nothing to sweep"),
    ("grid", BODY + "\nsweep: 3", "sweep: in the body is a mapping"),
    ("grid --sweep lr", BODY, "--sweep takes KEY=V1,V2"),
    ("grid", BODY + "\nsweep:\n  lr: 0.1", "sweep lr takes a list of values"),
    ("", BODY, "missing NAME"),
])
def test_sweep_magic_mistakes_are_usage_errors(ip, line, body, message):
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("sweep", line, body)


@pytest.mark.slow
def test_the_cli_sweeps_and_writes_the_ranked_table(tmp_path):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**SMALL, "epochs": 1}.items()]
    out = subprocess.run(
        [sys.executable, "-m", "jaxtext", "sweep", *flags, "--sweep", "lr=1e-2,3e-2",
         "--json", str(tmp_path / "sweep.json")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "2 configurations over lr in 1 group(s)" in out.stderr  # the progress view
    assert "2 of 2 configurations completed, ranked by validation accuracy" in out.stdout
    rows = json.loads((tmp_path / "sweep.json").read_text())
    assert sorted(r["lr"] for r in rows) == [0.01, 0.03]
    assert rows[0]["validation_accuracy"] >= rows[1]["validation_accuracy"]
    bad = subprocess.run([sys.executable, "-m", "jaxtext", "sweep", "--sweep", "lr=[]"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: sweep lr has an empty list: give at least one value"


# -- the notebook view ---------------------------------------------------------------------------


def test_the_sweep_dashboard_draws_a_curve_per_configuration_and_the_ranked_table(swept):
    from jaxtext.widgets.sweep import SweepDashboard, label, sweep_chart

    result, _, events = swept
    view = SweepDashboard(display=False, chart_every=0.0)
    for event in events:  # replay the sweep's real event stream
        view(event)
        view.on_step(0)
    spec = sweep_chart(view.curves).to_dict()
    configs = {row["config"] for row in spec["data"]["values"]}
    assert configs == {label(v) for v in result.plan.values} and len(configs) == 4
    assert spec["encoding"]["color"]["field"] == "config"
    assert view.w["chart"].value.startswith("<svg")  # rendered off the loop, then shown
    ranked = [int(i) for i in re.findall(r"<tr>\s*<th>(\d+)</th>", view.w["table"].value)]
    assert ranked == list(result.table.index)  # the same ranking as the result
    assert view.w["progress"].bar_style == "success"
    assert view.w["stop"].layout.display == "none"
    # the static copy that replaces the widget keeps the chart, the ranking and the end
    for part in (view.w["chart"].value, view.w["table"].value, "completed in"):
        assert part in view.static_html


def test_a_diverging_configuration_fails_alone_and_the_others_finish():
    result = jaxtext.sweep({**SMALL, "epochs": 1, "grad_clip": 0}, lr=[1e-2, 1e30],
                           callbacks=[])
    good, bad = result.runs
    assert good.status == "completed" and good.test_metrics
    assert bad.status == "failed" and "diverged" in bad.record.end.message
    assert not bad.test_metrics
    assert all(np.isfinite(x).all() for x in _leaves(bad.model_state.params))  # last good
    assert list(result.table.index) == [0, 1] and result.best is good


def test_a_group_split_into_chunks_trains_what_one_vmapped_call_trains(swept, monkeypatch):
    """Chunks of 2 (two vmapped calls per step) give the weights of one call over all 4, with
    one more trace: both chunks run the one compiled step of 2 configurations."""
    result, _, _ = swept
    monkeypatch.setattr(sweep_trainer, "CHUNK_TOKENS", 2 * SMALL["batch_size"] * SMALL["max_len"])
    before = sweep_step.TRACES["train"]
    chunked = jaxtext.sweep(SMALL, lr=[1e-2, 3e-2], grad_clip=[0.05, 1.0], callbacks=[])
    assert sweep_step.TRACES["train"] == before + 1
    assert [run.status for run in chunked.runs] == ["completed"] * 4
    for whole, split in zip(result.runs, chunked.runs, strict=True):
        assert _max_difference(whole.model_state.params, split.model_state.params) < 1e-6
        assert _max_difference(whole.opt_state, split.opt_state) < 1e-6
        assert whole.record.last_log.loss == pytest.approx(split.record.last_log.loss, abs=1e-6)
