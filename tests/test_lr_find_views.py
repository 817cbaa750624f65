"""The LR finder's front ends: the chart (spec and widget, Stop button), the magics in a real
InteractiveShell and a real kernel, the CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import Recorder
from IPython.core.error import UsageError
from test_lr_find import SMALL, SWEEP

import jaxtext
from jaxtext import events as ev
from jaxtext.api import finder_views
from jaxtext.lr_finder import RULE, LRFinderResult
from jaxtext.magics import TrainCommand
from jaxtext.training.lr_sweep import IN_FLIGHT

# -- the notebook view -------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept():
    rec = Recorder()
    return jaxtext.lr_find(SMALL, callbacks=[rec], **SWEEP), rec


def test_chart_has_log_rate_axis_and_marks_the_suggestion(swept):
    from jaxtext.widgets.lr_chart import lr_find_chart

    _, rec = swept
    rows = [{"step": e.step, "lr": e.lr, "loss": e.loss, "smoothed": e.smoothed}
            for e in rec.of(ev.LRFindStep)]
    spec = lr_find_chart(rows, 0.02).to_dict()
    curve, rule, label = spec["layer"]
    assert curve["encoding"]["x"]["scale"]["type"] == "log"
    assert rule["mark"]["type"] == "rule"
    datasets = spec["datasets"]
    assert datasets[rule["data"]["name"]] == [{"lr": 0.02, "label": "suggested 0.02"}]
    assert len(datasets[curve["data"]["name"]]) == 2 * len(rows)  # raw and smoothed
    assert "layer" not in lr_find_chart(rows).to_dict()  # no mark before the sweep ends


def test_chart_view_draws_live_and_leaves_a_static_copy():
    from jaxtext.widgets import LRFinderChart

    view = LRFinderChart(display=False)
    finder = jaxtext.lr_find(SMALL, callbacks=[view], **SWEEP)
    assert [r["loss"] for r in view.rows] == finder.losses.tolist()
    assert view.end.suggested == finder.suggested and not view.errors
    assert view.svg.count("<svg") == 1 and view.svg in view.static_html
    assert f"suggested lr <b>{finder.suggested:.3g}</b>" in view.static_html
    assert "lr_finder" in {row["name"] for row in jaxtext.list_plugins(["callbacks"])}
    # the training dashboard, asked for by name (e.g. configured in the magics), means this view
    views = finder_views(["dashboard", "progress"])
    assert [type(v).__name__ for v in views] == ["LRFinderChart", "TerminalProgress"]
    assert [type(v).__name__ for v in finder_views("auto")] == ["TerminalProgress"]  # no kernel


# -- the magics and the CLI --------------------------------------------------------------

BODY = "\n".join(f"{k}: {v}" for k, v in SMALL.items())


def test_magic_binds_the_finder_for_a_train_body(ip, capsys):
    ip.run_cell_magic("lr_find", "finder --steps 40 --start-lr 1e-5 --end-lr 100 "
                      "--callbacks none", BODY)
    finder = ip.user_ns["finder"]
    assert isinstance(finder, LRFinderResult) and finder.status == "diverged"
    assert "lr: $finder.suggested" in capsys.readouterr().out
    command = TrainCommand.parse("clf", BODY + "\nlr: $finder.suggested", ip.user_ns)
    assert command.config["lr"] == finder.suggested
    ip.run_line_magic("lr_find", "again model=mlp data=rotten_tomatoes limit=1000 epochs=1 "
                      "batch_size=32 vocab_size=4000 max_len=48 dim=16 ngram_buckets=4096 "
                      "steps=40 start_lr=1e-5 end_lr=100 callbacks=none")
    assert ip.user_ns["again"].losses.tolist() == finder.losses.tolist()


@pytest.mark.slow
def test_train_magic_with_the_finders_rate_or_lr_suggested(ip):
    ip.run_cell_magic("lr_find", "finder --callbacks none", BODY)
    finder = ip.user_ns["finder"]
    ip.run_cell_magic("train", "clf --callbacks none", BODY + "\nlr: $finder.suggested")
    assert ip.user_ns["clf"].config.lr == finder.suggested
    ip.run_cell_magic("train", "both --callbacks none", BODY + "\nlr: suggested")
    assert ip.user_ns["both"].config.lr == finder.suggested


@pytest.mark.parametrize("line, body, message", [
    ("", "model: mlp", "missing NAME.*%%lr_find NAME"),
    ("finder --steps 2", "model: mlp", "steps must be a whole number"),
    ("finder --start-lr 1 --end-lr 0.1", "model: mlp", "start_lr .* must be below end_lr"),
    ("finder", "modle: mlp", "did you mean 'model'"),
])
def test_magic_mistakes_are_one_line(ip, line, body, message):
    with pytest.raises(UsageError, match=message) as info:
        ip.run_cell_magic("lr_find", line, body)
    assert "\n" not in str(info.value) and "finder" not in ip.user_ns


def test_magic_attribute_of_a_variable_is_checked(ip):
    ip.user_ns["finder"] = LRFinderResult(np.array([1e-3]), np.array([0.7]), np.array([0.7]),
                                          1e-3, "completed", "", None)
    with pytest.raises(UsageError, match="has no attribute 'sugested'.*did you mean 'suggested'"):
        ip.run_cell_magic("train", "clf", "lr: $finder.sugested")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxtext", *args], capture_output=True,
                          text=True, timeout=600)


def _flags():
    return [f"--{k.replace('_', '-')}={v}" for k, v in {**SMALL, **SWEEP}.items()]


def test_cli_prints_a_table_and_the_suggestion(tmp_path):
    out = _cli("lr-find", *_flags(), "--json", str(tmp_path / "lr.json"), "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "lr.json").read_text())
    assert f"suggested lr {report['suggested']:.3g}" in out.stdout
    assert "lowest smoothed loss" in out.stdout and RULE in out.stdout
    assert report["status"] == "diverged" and len(report["lrs"]) == len(report["losses"]) > 20
    assert report["timing"]["compile_s"] > 0 and report["timing"]["steps_s"] > 0


@pytest.mark.parametrize("args, message", [
    (["--steps", "3"], "error: steps must be a whole number"),
    (["--start-lr", "1", "--end-lr", "0.5"], "error: start_lr (1) must be below end_lr"),
    (["--lr", "sugested"], "error: lr must be a number or 'suggested'"),
])
def test_cli_mistakes_are_one_line(args, message):
    out = _cli("lr-find", *args)
    assert out.returncode == 2 and out.stderr.startswith(message)
    assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""


def test_chart_views_stop_button_ends_the_sweep():
    from jaxtext.widgets import LRFinderChart
    from jaxtext.widgets.lr_finder import STOP_REASON

    view = LRFinderChart(display=False)

    def click_at_step_6(event):
        if isinstance(event, ev.LRFindStep) and event.step == 6:
            view.w["stop"].click()

    finder = jaxtext.lr_find(SMALL, callbacks=[view, click_at_step_6], **SWEEP)
    assert finder.status == "interrupted" and finder.message == STOP_REASON
    assert 6 <= len(finder.lrs) <= 6 + IN_FLIGHT + 1
    assert "interrupted" in view.static_html and view.svg in view.static_html


@pytest.mark.slow  # starts a kernel
def test_magic_in_a_real_kernel_draws_the_chart_and_leaves_it():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        shown, out = [], []

        def collect(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("display_data", "update_display_data"):
                shown.append(content["data"])
            elif kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("\n".join(content["traceback"]))

        kc.execute_interactive("%load_ext jaxtext", timeout=120, output_hook=collect)
        kc.execute_interactive(f"%%lr_find finder --steps 40 --start-lr 1e-5 --end-lr 100\n{BODY}",
                               timeout=600, output_hook=collect)
        kc.execute_interactive("print('SUGGESTED', repr(finder.suggested))", timeout=60,
                               output_hook=collect)
        text = "".join(out)
        assert "SUGGESTED" in text, text
        suggested = float(text.split("SUGGESTED")[1].split()[0])
        assert any("application/vnd.jupyter.widget-view+json" in d for d in shown)  # live
        final = shown[-1].get("text/html", "")  # the widget replaced by a static copy
        assert f"suggested lr <b>{suggested:.3g}</b>" in final and "<svg" in final
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
