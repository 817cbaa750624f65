"""Presets: named settings a model declares per task, chosen with the ``preset`` key."""

import json
import os
import subprocess
import sys

import pytest
from conftest import TINY, settings_only_model

import jaxtext
from jaxtext.cli import main
from jaxtext.config import Config
from jaxtext.registry import models

# A tiny run with the mlp's "accurate" preset: TINY's data and sizes given explicitly (they
# win), the preset deciding every other key it sets.
SIZES = ("model", "data", "limit", "epochs", "vocab_size", "max_len", "dim", "ngram_buckets",
         "batch_size", "log_every")
TINY_SIZES = {k: v for k, v in TINY.items() if k in SIZES}
ACCURATE = jaxtext.presets("mlp", "classify")["accurate"]
DECIDED = {k: v for k, v in ACCURATE.items() if k not in SIZES}  # what the preset decides


@pytest.fixture
def suggesting_model():
    """A registered model with training defaults and two presets (for classify only)."""

    def presets(task):
        if task != "classify":
            return {}
        return {"accurate": {"lr": 0.25, "dim": 8, "max_len": 99}, "fast": {"epochs": 1}}

    with settings_only_model("preset_probe", lambda task: {"lr": 0.5, "epochs": 7},
                             presets) as name:
        yield name


def test_preset_applies_over_the_model_defaults_and_explicit_keys_win(suggesting_model):
    plain = Config.from_dict(model=suggesting_model)
    assert (plain.preset, plain.lr, plain.epochs, plain.model_args.dim) == ("", 0.5, 7, 4)
    chosen = Config.from_dict(model=suggesting_model, preset="accurate")
    assert (chosen.lr, chosen.epochs, chosen.max_len, chosen.model_args.dim) == (0.25, 7, 99, 8)
    given = Config.from_dict(model=suggesting_model, preset="accurate", lr=0.1, dim=16)
    assert (given.lr, given.max_len, given.model_args.dim) == (0.1, 99, 16)


def test_the_config_shows_the_preset_and_the_values_used(suggesting_model):
    config = Config.from_dict(model=suggesting_model, preset="accurate", lr=0.1)
    values = config.to_dict()
    assert values["preset"] == "accurate"
    assert (values["lr"], values["max_len"], values["dim"]) == (0.1, 99, 8)
    assert Config.from_dict(values) == config  # a saved config reloads as it was


def test_replace_with_a_preset_applies_it(suggesting_model):
    config = Config.from_dict(model=suggesting_model, max_len=10)
    chosen = config.replace(preset="accurate", lr=0.125)
    assert (chosen.preset, chosen.max_len, chosen.lr, chosen.model_args.dim) == \
        ("accurate", 99, 0.125, 8)
    assert chosen.replace(epochs=2).max_len == 99  # other changes keep the preset's values


@pytest.mark.parametrize("keys, message", [
    ({"preset": "acurate"}, "unknown preset 'acurate' (did you mean 'accurate'?); presets of "
                            "model 'preset_probe' for task 'classify': accurate, fast"),
    ({"preset": "accurate", "task": "lm", "sample_tokens": 0},
     "unknown preset 'accurate'; model 'preset_probe' has no presets for task 'lm'"),
    ({"preset": 3}, "preset must be a preset's name such as 'accurate', not 3 (int)"),
])
def test_unknown_preset_is_one_line_naming_the_choices(suggesting_model, keys, message):
    with pytest.raises(jaxtext.ConfigError) as info:
        Config.from_dict(model=suggesting_model, **keys)
    assert str(info.value) == message


def test_a_preset_may_not_choose_the_model_or_task():
    # a plain dict: the same presets for every task
    with settings_only_model("preset_bad", presets={"x": {"task": "lm"}}), \
            pytest.raises(jaxtext.ConfigError, match="preset 'x' may not set task"):
        Config.from_dict(model="preset_bad", preset="x")


def test_help_lists_the_presets(capsys):
    assert main(["help"]) == 0
    core = capsys.readouterr().out
    assert "preset: ''" in core and ("presets (preset: NAME): lstm classify: accurate; "
                                     "mlp classify: accurate; transformer classify: accurate; "
                                     "transformer lm: accurate") in core
    assert main(["help", "mlp"]) == 0
    text = capsys.readouterr().out
    settings = ", ".join(f"{k}: {v!r}" for k, v in
                         jaxtext.presets("mlp", "classify")["accurate"].items())
    assert f"  accurate (classify): {settings}\n" in text
    assert text == jaxtext.keys_text("mlp") + "\n"


def test_built_in_presets_are_valid_configs():
    for model in models.names():
        for task in ("classify", "lm", "regression", "multilabel"):
            for name, keys in jaxtext.presets(model, task).items():
                lm = {"sample_tokens": 0} if task == "lm" else {}
                config = Config.from_dict(model=model, task=task, preset=name, **lm)
                values = config.to_dict()
                assert {k: values[k] for k in keys} == keys


@pytest.mark.slow
def test_a_tiny_run_trains_with_the_preset_from_python_and_a_cell(ip):
    run = jaxtext.train(TINY_SIZES, preset="accurate", callbacks=[])
    assert run.status == "completed" and run.test_metrics["accuracy"] > 0.6
    assert run.config.preset == "accurate" and DECIDED
    assert {k: run.config.to_dict()[k] for k in DECIDED} == DECIDED
    assert {k: run.config.to_dict()[k] for k in TINY_SIZES} == TINY_SIZES
    body = "\n".join(f"{k}: {json.dumps(v)}" for k, v in TINY_SIZES.items())
    ip.run_cell_magic("train", "clf --callbacks none", body + "\npreset: accurate")
    cell = ip.user_ns["clf"]
    assert cell.config == run.config.replace(name="clf")
    assert cell.test_metrics["accuracy"] == run.test_metrics["accuracy"]  # same seed, same run


@pytest.mark.slow
def test_cli_train_with_preset_saves_the_settings_used(tmp_path):
    flags = [f"--set={k}={v}" for k, v in TINY_SIZES.items() if k not in ("model", "data")]
    out = subprocess.run(
        [sys.executable, "-m", "jaxtext", "train", "--data", "rotten_tomatoes", "--preset",
         "accurate", "--lr", "0.01", *flags, "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert out.returncode == 0, out.stderr
    saved = jaxtext.load(tmp_path / "run").config
    assert saved.preset == "accurate" and saved.lr == 0.01  # the explicit rate wins
    decided = {k: v for k, v in DECIDED.items() if k != "lr"}
    assert decided and {k: saved.to_dict()[k] for k in decided} == decided
    bad = subprocess.run([sys.executable, "-m", "jaxtext", "train", "--preset", "best"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "unknown preset 'best'; presets of model 'mlp' for task 'classify': accurate" \
        in bad.stderr


def test_dashboard_header_shows_the_preset_and_its_values():
    from jaxtext.widgets import report

    config = Config.from_dict(model="mlp", preset="accurate", lr=0.125)
    begin = jaxtext.events.TrainBegin(
        run_name="clf", task="classify", model="mlp", data="imdb", config=config.to_dict(),
        num_params=10, devices=["cpu:0"], dataset_sizes={"train": 3}, label_names=["a", "b"],
        epochs=config.epochs, steps_per_epoch=1, total_steps=config.epochs,
        batch_size=config.batch_size)
    header = report.header_html(begin)
    shown = " · ".join(f"{k} {report.fmt_metric(0.125 if k == 'lr' else v)}"
                       for k, v in ACCURATE.items())
    assert f"preset accurate: {shown}</span>" in header
    plain = {**begin.__dict__, "config": Config.from_dict(model="mlp").to_dict()}
    assert "preset" not in report.header_html(jaxtext.events.TrainBegin(**plain))


def test_the_readme_lists_every_built_in_preset_as_the_code_has_it():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### Presets"):readme.index("## Python")]
    for model in ("mlp", "lstm", "transformer"):
        for task in ("classify", "lm", "regression", "multilabel"):
            for name, keys in jaxtext.presets(model, task).items():
                sets = ", ".join(f"`{k}: {v}`" for k, v in keys.items())
                assert f"| `{model}` | {task} | `{name}` | {sets} |" in section
