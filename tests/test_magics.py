"""The magics: pure parsing, then a real InteractiveShell (fake trainer, then a real tiny run)."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

import jaxtext
from jaxtext.display import GeneratedText
from jaxtext.errors import ConfigError, TrainingError
from jaxtext.magics import JaxtextMagics, PredictCommand, TrainCommand
from jaxtext.magics.parsing import find_run
from jaxtext.magics.reports import summary_line
from jaxtext.settings import parse_tokens, parse_value, parse_yaml_settings
from jaxtext.training.step_queue import MAX_IN_FLIGHT

# -- parsing (pure) ----------------------------------------------------------------------


def test_body_is_typed_yaml_with_floats_like_1e_3():
    body = "model: lstm\nlr: 3e-3\nepochs: 2\nlowercase: false\nwarmup: .1\n# a comment\n"
    assert parse_yaml_settings(body) == {
        "model": "lstm",
        "lr": 0.003,
        "epochs": 2,
        "lowercase": False,
        "warmup": 0.1,
    }
    assert parse_yaml_settings("") == {} and parse_yaml_settings("# only a comment\n") == {}


def test_body_yaml_error_names_the_line():
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2 \('lr: 1: 2'\): mapping"):
        parse_yaml_settings("model: lstm\nlr: 1: 2\nepochs: 1")
    with pytest.raises(ConfigError, match=r"at line 3 \('lr: 1: 2'\)"):  # line 1: %%train
        TrainCommand.parse("clf", "model: lstm\nlr: 1: 2")


def test_body_must_be_a_mapping():
    with pytest.raises(ConfigError, match="'key: value' lines, got a list"):
        parse_yaml_settings("- model\n- lstm")


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", 1),
        ("3e-3", 0.003),
        ("-1", -1),
        ("true", True),
        ("lstm", "lstm"),
        ("[a, b]", ["a", "b"]),
        ("null", None),
        ("", ""),
        ("a: b", "a: b"),
        ("#tag", "#tag"),
        ("it's", "it's"),
        ("Once upon a time", "Once upon a time"),
    ],
)
def test_line_values_are_yaml_but_text_stays_text(text, value):
    assert parse_value(text) == value


def test_line_settings_forms():
    tokens = [
        "--epochs",
        "1",
        "--lr=3e-3",
        "--set",
        "hidden=64",
        "max_len=128",
        "--max-len",
        "64",
        "--lowercase",
        "--warmup",
        "-0",
    ]
    assert parse_tokens(tokens) == {
        "epochs": 1,
        "lr": 0.003,
        "hidden": 64,
        "max_len": 64,
        "lowercase": True,
        "warmup": 0,
    }


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["--set"], "--set needs KEY=VALUE"),
        (["--set", "hidden"], "--set needs KEY=VALUE"),
        (["lstm"], "unexpected 'lstm'"),
        (["--1x", "2"], "'1x' is not a config key name"),
    ],
)
def test_line_settings_mistakes(tokens, message):
    with pytest.raises(ConfigError, match=message):
        parse_tokens(tokens)


def test_line_overrides_body_overrides_defaults():
    command = TrainCommand.parse(
        "clf --epochs 1 lr=0.1",
        "epochs: 5\nlr: 1e-3\nmodel: lstm",
        defaults={"model": "mlp", "limit": 100, "epochs": 9},
    )
    assert command.name == "clf"
    assert command.config == {"model": "lstm", "limit": 100, "epochs": 1, "lr": 0.1, "name": "clf"}
    assert command.callbacks is None


def test_explicit_run_name_and_callbacks_are_kept_apart():
    command = TrainCommand.parse("clf --callbacks progress,json", "name: baseline")
    assert command.config == {"name": "baseline"}
    assert command.callbacks == "progress,json"


def test_dollar_name_is_the_notebook_object():
    df = pd.DataFrame({"text": ["a"], "label": [0]})
    command = TrainCommand.parse("clf --epochs $n", "data: $df", {"df": df, "n": 2})
    assert command.config["data"] is df and command.config["epochs"] == 2


def test_missing_variable_suggests_a_close_one():
    with pytest.raises(ConfigError, match=r"data: \$dff names no variable.*did you mean 'df'"):
        TrainCommand.parse("clf", "data: $dff", {"df": 1})


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "missing NAME"),
        ("--epochs 1", "missing NAME"),
        ("epochs=1", "missing NAME"),
        ("2clf", "must be a Python variable name"),
        ("class", "must be a Python variable name"),
        ("clf --prompt 'unclosed", "cannot read the magic line"),
    ],
)
def test_bad_name_or_line(line, message):
    with pytest.raises(ConfigError, match=message):
        TrainCommand.parse(line, "")


def test_predict_texts_from_line_variable_or_body():
    assert PredictCommand.parse("clf what a film!").texts == ["what a film!"]
    assert PredictCommand.parse("clf  it's 'quoted' ").texts == ["it's 'quoted'"]
    assert PredictCommand.parse("clf $t", None, {"t": ["a", "b"]}).texts == ["a", "b"]
    assert PredictCommand.parse("clf", "good\n\n bad \n").texts == ["good", "bad"]
    with pytest.raises(ConfigError, match="nothing to predict"):
        PredictCommand.parse("clf", "\n")
    with pytest.raises(ConfigError, match="needs texts"):
        PredictCommand.parse("clf $t", None, {"t": [1, 2]})


class FakeRun:
    """Stands in for jaxtext.run.Run: what the magics read from a run."""

    def __init__(self, config=None, status="completed", steps=10, test_metrics=None):
        self.config = jaxtext.Config() if config is None else config
        self.name = self.config.name
        self.status = status
        self.steps = steps
        self.test_metrics = test_metrics if test_metrics is not None else {"accuracy": 0.75}
        self.calls = []

    def predict(self, texts):
        self.calls.append(("predict", texts))
        return pd.DataFrame({"text": texts, "label": ["pos"] * len(texts)})

    def generate(self, prompt="", return_probs=False, **kwargs):
        self.calls.append(("generate", prompt, kwargs))
        texts = [" there was", " a cat"][: kwargs.get("num_samples", 1)]
        return (texts, [[(t, 0.5)] for t in texts]) if return_probs else texts


def test_find_run_errors_name_the_runs_there():
    ns = {"clf": FakeRun(), "x": 3}
    assert find_run("clf", ns, "predict") is ns["clf"]
    with pytest.raises(ConfigError, match="no run named 'clff'.*did you mean 'clf'"):
        find_run("clff", ns, "predict")
    with pytest.raises(ConfigError, match="'x' is a int, not a run"):
        find_run("x", ns, "predict")


def test_summary_line_and_samples_text():
    assert summary_line("clf", FakeRun()) == "clf: completed, test accuracy 0.7500"
    interrupted = FakeRun(status="interrupted", steps=7, test_metrics={})
    assert (
        summary_line("clf", interrupted)
        == "clf: interrupted at step 7; it keeps the weights so far"
    )
    assert str(GeneratedText("Hi", [" there"])) == "Hi there"
    assert str(GeneratedText("Hi", ["1", "2"])) == "--- sample 1 ---\nHi1\n--- sample 2 ---\nHi2"
    shaded = GeneratedText("Hi", [" there"], [[(" there", 0.25)]])._repr_html_()
    assert 'title="p=0.250"' in shaded and "<b>Hi</b>" in shaded


# -- a real InteractiveShell --------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch):
    """Replace jaxtext.train by a recorder returning a FakeRun (no training)."""
    seen = []

    def fake_train(config=None, /, *, callbacks="auto", **keys):
        seen.append({"config": config, "callbacks": callbacks})
        return FakeRun(jaxtext.Config(name=config.get("name", "")))

    monkeypatch.setattr(jaxtext, "train", fake_train)
    return seen


def _namespace(ip):
    return {k: v for k, v in ip.user_ns.items() if not k.startswith("_") and k not in ("In", "Out")}


def test_load_ext_registers_the_magics_and_config(ip):
    magics = ip.magics_manager.registry["JaxtextMagics"]
    assert isinstance(magics, JaxtextMagics)
    for kind, names in {
        "line": ["train", "predict", "jaxtext"],
        "cell": ["train", "generate", "predict"],
    }.items():
        assert set(names) <= set(ip.magics_manager.magics[kind])
    ip.run_line_magic("config", "JaxtextMagics.callbacks = ['progress']")
    ip.run_line_magic("config", "JaxtextMagics.defaults = {'limit': 100}")
    assert magics.callbacks == ["progress"] and magics.defaults == {"limit": 100}


def test_train_cell_binds_the_run_with_line_overriding_body(ip, calls, capsys):
    ip.run_line_magic("config", "JaxtextMagics.callbacks = ['progress']")
    ip.run_cell_magic(
        "train",
        "clf --epochs 1 --set hidden=64",
        "model: mlp\ndata: rotten_tomatoes\nepochs: 4\nlimit: 1000",
    )
    assert calls == [
        {
            "config": {
                "model": "mlp",
                "data": "rotten_tomatoes",
                "epochs": 1,
                "limit": 1000,
                "hidden": 64,
                "name": "clf",
            },
            "callbacks": ["progress"],
        }
    ]
    assert isinstance(ip.user_ns["clf"], FakeRun)
    assert capsys.readouterr().out == "clf: completed, test accuracy 0.7500\n"


def test_train_line_form_and_callback_choices(ip, calls):
    ip.run_line_magic("train", "a model=lstm epochs=2")
    ip.run_line_magic("config", "JaxtextMagics.show_dashboard = False")
    ip.run_line_magic("train", "b")
    ip.run_line_magic("train", "c --callbacks json,progress")
    ip.run_line_magic("train", "d --callbacks none")
    assert calls[0]["config"] == {"model": "lstm", "epochs": 2, "name": "a"}
    ip.run_line_magic("config", "JaxtextMagics.callbacks = ['dashboard', 'json']")
    ip.run_line_magic("train", "e")
    ip.run_line_magic("train", "f --callbacks dashboard")
    assert [c["callbacks"] for c in calls] == [
        "auto",
        ["progress"],
        ["json", "progress"],
        [],
        ["json"],
        ["dashboard"],
    ]
    assert {"a", "b", "c", "d"} <= set(ip.user_ns)


def test_dollar_data_is_not_expanded_by_ipython(ip, calls):
    ip.user_ns["df"] = df = pd.DataFrame({"text": ["good", "bad"], "label": [1, 0]})
    ip.run_cell("%train clf data=$df")
    ip.run_cell("%%train lm --data $df\ntask: lm")
    assert calls[0]["config"]["data"] is df and calls[1]["config"]["data"] is df


@pytest.mark.parametrize(
    "line, body, message",
    [
        ("clf", "model: [", "the cell body is not valid YAML at line 2"),
        ("", "model: mlp", "missing NAME"),
        (
            "clf",
            "data: $opn",
            "names no variable in the notebook\n",
        ),  # no hint: `open` is IPython's
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(ip, calls, capsys, line, body, message):
    ip.user_ns["clf"] = "before"
    before = _namespace(ip)
    result = ip.run_cell(f"%%train {line}\n{body}", store_history=False)
    assert isinstance(result.error_in_exec, UsageError)
    out = capsys.readouterr()  # a UsageError prints one line and no traceback
    assert out.out == "" and out.err.count("\n") == 1
    assert out.err.startswith("UsageError: ") and message in out.err + "\n"
    assert _namespace(ip) == before and calls == []


def test_core_errors_become_usage_errors(ip, monkeypatch):
    def failing_train(config=None, /, *, callbacks="auto", **keys):
        raise ConfigError("unknown config key 'epoch' (did you mean 'epochs'?)")

    monkeypatch.setattr(jaxtext, "train", failing_train)
    before = _namespace(ip)
    with pytest.raises(UsageError, match=r"^unknown config key 'epoch' \(did you mean"):
        ip.run_cell_magic("train", "clf", "epoch: 1")
    assert _namespace(ip) == before


def test_training_error_binds_the_last_good_run(ip, monkeypatch):
    run = FakeRun(status="failed", test_metrics={})

    def diverging_train(config=None, /, *, callbacks="auto", **keys):
        raise TrainingError("training diverged at step 3", run=run)

    monkeypatch.setattr(jaxtext, "train", diverging_train)
    with pytest.raises(UsageError, match=r"diverged at step 3 \(`clf` holds that run\)"):
        ip.run_cell_magic("train", "clf", "lr: 100")
    assert ip.user_ns["clf"] is run


def test_interrupted_run_is_bound_with_one_line(ip, monkeypatch, capsys):
    run = FakeRun(status="interrupted", steps=7, test_metrics={})
    monkeypatch.setattr(jaxtext, "train", lambda config, /, *, callbacks: run)
    ip.run_cell("%%train clf\nepochs: 100", store_history=False)
    assert ip.user_ns["clf"] is run
    assert capsys.readouterr().out == "clf: interrupted at step 7; it keeps the weights so far\n"


def test_keyboard_interrupt_before_training_changes_nothing(ip, monkeypatch):
    def interrupted(config=None, /, *, callbacks="auto", **keys):
        raise KeyboardInterrupt

    monkeypatch.setattr(jaxtext, "train", interrupted)
    with pytest.raises(UsageError, match="interrupted; `clf` is unchanged"):
        ip.run_line_magic("train", "clf")
    assert "clf" not in ip.user_ns


def test_predict_shows_the_dataframe(ip):
    ip.user_ns["clf"] = run = FakeRun()
    frame = ip.run_line_magic("predict", "clf what a film!")
    assert list(frame.text) == ["what a film!"] and run.calls == [("predict", ["what a film!"])]
    ip.user_ns["texts"] = ["a", "b"]
    assert list(ip.run_cell("%predict clf $texts").result.text) == ["a", "b"]
    assert list(ip.run_cell_magic("predict", "clf", "good\nbad").text) == ["good", "bad"]
    with pytest.raises(UsageError, match="no run named 'clff'"):
        ip.run_line_magic("predict", "clff hi")


def test_generate_passes_options_and_prints_samples(ip, capsys):
    ip.user_ns["lm"] = run = FakeRun()
    ip.run_cell_magic(
        "generate", "lm --max-new-tokens 20 --temperature 0.5 --num-samples 2", "Once upon a time\n"
    )
    assert run.calls == [
        (
            "generate",
            "Once upon a time",
            {"max_new_tokens": 20, "temperature": 0.5, "num_samples": 2},
        )
    ]
    assert "--- sample 2 ---\nOnce upon a time a cat" in capsys.readouterr().out
    with pytest.raises(UsageError, match="argument --top-k: invalid int value"):
        ip.run_cell_magic("generate", "lm --top-k many", "x")


def test_jaxtext_runs_asks_each_run(ip, calls, capsys):
    ip.run_line_magic("jaxtext", "runs")
    assert "no runs yet" in capsys.readouterr().out
    ip.run_line_magic("train", "a")
    ip.run_line_magic("train", "b")
    ip.user_ns["b"].test_metrics = {"accuracy": 0.9}  # e.g. after run.evaluate
    table = ip.run_line_magic("jaxtext", "runs")
    assert list(table.variable) == ["a", "b"]
    assert list(table.test_accuracy) == [0.75, 0.9]
    del ip.user_ns["a"]
    assert ip.run_line_magic("jaxtext", "runs").status[0] == "completed (deleted)"


def test_jaxtext_help_and_mistakes(ip, capsys):
    ip.run_line_magic("jaxtext", "help")
    out = capsys.readouterr().out
    assert "%%train NAME" in out and "epochs: 3" in out and "passes over the training" in out
    with pytest.raises(UsageError, match="unknown command 'lst' \\(did you mean 'list'\\?\\)"):
        ip.run_line_magic("jaxtext", "lst")


def test_jaxtext_help_model_is_the_cli_text(ip, capsys):
    ip.run_line_magic("jaxtext", "help lstm")
    assert capsys.readouterr().out == jaxtext.keys_text("lstm") + "\n"
    with pytest.raises(UsageError, match="unknown model 'lstn' \\(did you mean 'lstm'\\?\\)"):
        ip.run_line_magic("jaxtext", "help lstn")


def test_jaxtext_export_writes_the_run_for_load_exported(ip, tiny_run, tmp_path, capsys):
    import numpy as np

    ip.user_ns["clf"] = tiny_run
    folder = tmp_path / "my exports" / "clf"
    ip.run_line_magic("jaxtext", f"export clf '{folder}'")
    assert capsys.readouterr().out == f"exported clf to {folder}\n"
    texts = ["a wonderful film", "dull"]
    assert np.array_equal(jaxtext.load_exported(folder).probs(texts),
                          tiny_run.predict(texts)[tiny_run.label_names].to_numpy())
    with pytest.raises(UsageError, match="already holds an export; pass overwrite=True"):
        ip.run_line_magic("jaxtext", f"export clf '{folder}'")
    ip.run_line_magic("jaxtext", f"export clf '{folder}' --overwrite")
    with pytest.raises(UsageError, match="usage: %jaxtext export NAME PATH"):
        ip.run_line_magic("jaxtext", "export clf")
    with pytest.raises(UsageError, match="no run named 'clg' in the notebook"):
        ip.run_line_magic("jaxtext", f"export clg '{folder}'")


# -- the real trainer ---------------------------------------------------------------------

TINY = "model: mlp\ndata: rotten_tomatoes\nlimit: 1000\nmax_len: 32\nepochs: 3"


@pytest.mark.slow
def test_real_run_is_bound_with_metrics_and_usable(ip, capsys):
    from jaxtext.run import Run

    ip.run_line_magic("config", "JaxtextMagics.callbacks = ['progress']")
    ip.run_cell_magic("train", "clf --epochs 1", TINY)
    clf = ip.user_ns["clf"]
    assert isinstance(clf, Run) and clf.status == "completed"
    assert clf.config.epochs == 1 and clf.config.limit == 1000 and clf.name == "clf"
    accuracy = clf.test_metrics["accuracy"]
    assert 0.0 <= accuracy <= 1.0
    assert capsys.readouterr().out.endswith(f"clf: completed, test accuracy {accuracy:.4f}\n")

    frame = ip.run_line_magic("predict", "clf a wonderful, moving film")
    assert list(frame.columns[:2]) == ["text", "label"] and len(frame) == 1
    table = ip.run_line_magic("jaxtext", "runs")
    assert table.loc[0, "variable"] == "clf" and table.loc[0, "test_accuracy"] == accuracy
    listed = ip.run_line_magic("jaxtext", "list")
    assert {("model", "mlp"), ("dataset", "rotten_tomatoes"), ("callback", "progress")} <= set(
        zip(listed.kind, listed.name, strict=True)
    )
    with pytest.raises(UsageError, match="generate\\(\\) needs a language model"):
        ip.run_cell_magic("generate", "clf", "Once")


def test_kernel_interrupt_binds_the_run_with_one_line(ip, capsys):
    """A real SIGINT mid-training (what the kernel's interrupt sends) stops at a step boundary."""
    import signal

    class InterruptAtStep2(jaxtext.Callback):
        sent = False

        def on_step(self, step):
            if step >= 2 and not self.sent:  # the finished count may jump past 2
                self.sent = True
                signal.raise_signal(signal.SIGINT)

    ip.user_ns["views"] = [InterruptAtStep2()]
    result = ip.run_cell(f"%%train clf --callbacks $views\n{TINY}", store_history=False)
    assert result.error_in_exec is None
    clf = ip.user_ns["clf"]
    # step 2 has finished when on_step(2) runs; the steps queued behind it finish too
    assert clf.status == "interrupted" and 2 <= clf.steps <= 2 + MAX_IN_FLIGHT
    out = capsys.readouterr()
    assert out.out == f"clf: interrupted at step {clf.steps}; it keeps the weights so far\n"
    assert "Traceback" not in out.err


@pytest.mark.slow
def test_real_divergence_binds_the_failed_run(ip, capsys):
    ip.run_line_magic("config", "JaxtextMagics.callbacks = 'none'")
    ip.run_cell(f"%%train bad --lr 1e30 --grad-clip 0 --log-every 2\n{TINY}", store_history=False)
    err = capsys.readouterr().err
    assert err.startswith("UsageError: training diverged") and err.count("\n") == 1
    assert err.endswith("(`bad` holds that run)\n") and ip.user_ns["bad"].status == "failed"


@pytest.mark.parametrize(
    "body, message",
    [
        ("model: lsmt", "unknown model 'lsmt'"),
        ("model: mlp\ndata: rotten_tomatos", "did you mean 'rotten_tomatoes'"),
        ("model: mlp\nepoch: 1", "unknown config key 'epoch' (did you mean 'epochs'?)"),
        ("model: mlp\nepochs: one", "config key 'epochs' must be int, got 'one'"),
        ("model: mlp\nhiden: 64", "(did you mean 'hidden'?)"),
    ],
)
def test_real_config_mistakes_are_one_line_and_change_nothing(ip, capsys, body, message):
    before = _namespace(ip)
    result = ip.run_cell(f"%%train clf\n{body}", store_history=False)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert _namespace(ip) == before
