"""Text -> settings: one reader for the CLI (--config, --set, --key), the cell body and the line.

Each disagreement the old two parsers had gets a regression test through the real entry point;
a property test then feeds the same keys and values to every entry point and asserts they all
build the same Config (or fail with the same one-line error).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import jaxtext
from jaxtext.cli import main, parse_train_args, train_config
from jaxtext.config import Config
from jaxtext.errors import ConfigError, JaxtextError
from jaxtext.magics.parsing import TrainCommand
from jaxtext.magics.reports import help_text
from jaxtext.registry import models
from jaxtext.settings import (
    merge_settings,
    parse_tokens,
    parse_value,
    parse_yaml_settings,
    read_settings_file,
)


def cli_settings(*argv: str) -> dict:
    """The settings ``python -m jaxtext train ARGV`` hands to Config (nothing is trained)."""
    return train_config(parse_train_args(list(argv)))


def write(tmp_path: Path, text: str, name: str = "train.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- YAML 1.2 scalars -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-3", 0.001),
        ("-1e-3", -0.001),
        (".5", 0.5),
        ("3.", 3.0),
        ("+2", 2),
        ("1.5e+2", 150.0),
        ("0x1f", 31),
        ("0o17", 15),
        ("30_000", 30000),
        ("-7", -7),
        (".inf", math.inf),
        ("-.inf", -math.inf),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("~", None),
        ("null", None),
        ("NULL", None),
        ("no", "no"),
        ("off", "off"),
        ("yes", "yes"),
        ("on", "on"),
        ("tRue", "tRue"),
        ("1:30", "1:30"),  # YAML 1.1 read this as base-60: 90
        ("2024-01-01", "2024-01-01"),  # YAML 1.1 read this as a date
        ("csv:data/x.csv", "csv:data/x.csv"),
        ("1__0", "1__0"),
        ("[1, no, 1e-3]", [1, "no", 0.001]),
    ],
)
def test_values_are_yaml_1_2_scalars_everywhere(text, value):
    assert parse_value(text) == value
    assert parse_yaml_settings(f"key: {text}") == {"key": value}
    assert parse_tokens([f"--key={text}"]) == {"key": value}


def test_nan_is_a_float():
    assert math.isnan(parse_value(".nan")) and math.isnan(parse_yaml_settings("x: .NaN")["x"])


# -- the disagreements of the issue, through the real entry points ---------------------------


def test_lr_3e_3_in_a_config_file_reaches_config_as_a_float(tmp_path):
    path = write(tmp_path, "model: lstm\nlr: 3e-3\nhidden: 32\n")
    settings = cli_settings("--config", path)
    assert settings == {"model": "lstm", "lr": 0.003, "hidden": 32}
    assert Config.from_dict(settings).lr == 0.003


@pytest.mark.parametrize(
    "argv", [("--set", "lr=3e-3"), ("--lr", "3e-3"), ("--lr=3e-3",), ("lr=3e-3",)]
)
def test_cli_lr_forms_are_floats(argv):
    assert cli_settings(*argv) == {"lr": 0.003}


def test_negative_lr_after_a_flag_is_a_value_and_config_refuses_it(capsys, monkeypatch):
    assert cli_settings("--lr=-1e-3") == {"lr": -0.001}
    assert cli_settings("--lr", "-1e-3", "--epochs", "1") == {"lr": -0.001, "epochs": 1}
    with pytest.raises(ConfigError, match=r"^lr must be positive, got -0\.001$"):
        Config.from_dict(cli_settings("--lr", "-1e-3"))

    def must_not_train(*args, **kwargs):
        raise AssertionError("the CLI trained with an invalid config")

    monkeypatch.setattr(jaxtext, "train", must_not_train)
    assert main(["train", "--lr", "-1e-3", "--epochs", "1"]) == 2
    assert capsys.readouterr().err == "error: lr must be positive, got -0.001\n"


def test_cli_settings_keep_their_order_and_beat_the_file(tmp_path):
    assert cli_settings("--epochs", "2", "--set", "epochs=3") == {"epochs": 3}
    assert cli_settings("--set", "epochs=3", "--epochs", "2") == {"epochs": 2}
    assert cli_settings("--epochs", "1", "--epochs", "2") == {"epochs": 2}
    path = write(tmp_path, "epochs: 5\nlimit: 100\n")
    assert cli_settings("--epochs", "1", "--config", path) == {"epochs": 1, "limit": 100}


def test_no_stays_text_but_a_bool_key_still_takes_it():
    assert cli_settings("--set", "name=no") == {"name": "no"}
    assert Config.from_dict(cli_settings("--set", "name=no")).name == "no"
    for argv in (("--set", "lowercase=no"), ("--lowercase", "off"), ("lowercase=No",)):
        assert Config.from_dict(cli_settings(*argv)).lowercase is False, argv
    assert Config.from_dict(cli_settings("--lowercase", "on")).lowercase is True
    assert Config.from_dict(cli_settings("--lowercase")).lowercase is True
    body = TrainCommand.parse("clf", "name: no\nlowercase: no").config
    assert body == {"name": "no", "lowercase": "no"}
    assert Config.from_dict(body).lowercase is False


def test_epochs_1_30_is_a_one_line_error_not_90(tmp_path):
    message = "config key 'epochs' must be int, got '1:30' (str)"
    for settings in (
        TrainCommand.parse("clf", "epochs: 1:30").config,
        TrainCommand.parse("clf --epochs 1:30").config,
        cli_settings("--config", write(tmp_path, "epochs: 1:30")),
        cli_settings("--set", "epochs=1:30"),
    ):
        with pytest.raises(ConfigError) as err:
            Config.from_dict(settings)
        assert str(err.value) == message


def test_duplicate_keys_are_refused_in_a_body_and_in_a_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        TrainCommand.parse("clf", "lr: 1e-3\nepochs: 2\nlr: 3e-3")
    assert str(err.value) == "duplicate key 'lr' at line 4 of the cell body; keep one"
    with pytest.raises(ConfigError) as err:
        parse_yaml_settings("lr: 1e-3\nepochs: 2\nlr: 3e-3")
    assert str(err.value) == "duplicate key 'lr' at line 3 of the cell body; keep one"
    path = write(tmp_path, "epochs: 1\nepochs: 2\n", "dup.yaml")
    with pytest.raises(ConfigError) as err:
        cli_settings("--config", path)
    assert str(err.value) == f"duplicate key 'epochs' at line 2 of config file '{path}'; keep one"


@pytest.mark.parametrize(
    "value",
    ["!!timestamp garbage", "!!binary x", "!!python/object:os.system x", "!!int 1:30",
     "!!bool yes", "!!float abc"],
)
def test_explicit_tags_that_fail_are_one_line_config_errors(tmp_path, value):
    for read in (
        lambda: parse_yaml_settings(f"model: lstm\nwhen: {value}"),
        lambda: read_settings_file(write(tmp_path, f"when: {value}\n")),
        lambda: parse_value(value),
    ):
        with pytest.raises(ConfigError) as err:
            read()
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"^the cell body is not valid YAML at line 2 \("):
        parse_yaml_settings(f"model: lstm\nwhen: {value}")


def test_yaml_errors_name_the_source_and_line(tmp_path):
    path = write(tmp_path, "model: lstm\nlr: [\n")
    with pytest.raises(ConfigError, match=rf"^config file '{path}' is not valid YAML at line 2"):
        cli_settings("--config", path)
    with pytest.raises(ConfigError, match="config file 'nope.yaml' not found"):
        cli_settings("--config", "nope.yaml")
    with pytest.raises(ConfigError, match=r"must be YAML 'key: value' lines, got a list"):
        cli_settings("--config", write(tmp_path, "- a\n- b\n", "list.yaml"))
    with pytest.raises(ConfigError, match="config keys are names such as 'epochs', not 1"):
        parse_yaml_settings("1: 2")


def test_merge_settings_later_layers_win():
    assert merge_settings({"a": 1, "b": 1}, None, {"b": 2}, {}) == {"a": 1, "b": 2}


# -- the train command's own options ---------------------------------------------------------


def test_train_options_are_pulled_out_and_the_rest_kept_in_order():
    args = parse_train_args(
        ["--out", "runs/x", "--prompt", "-h", "--quiet", "--json=m.json", "--set", "hidden=8"]
    )
    assert (args.json, args.quiet, args.help) == ("m.json", True, False)
    assert args.settings == ["--out", "runs/x", "--prompt", "-h", "--set", "hidden=8"]
    assert parse_train_args(["-h"]).help and parse_train_args(["--lowercase", "--help"]).help
    with pytest.raises(ConfigError, match="--config needs a value, e.g. --config train.yaml"):
        parse_train_args(["--config"])


def test_train_help_lists_its_options(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for text in ("--config FILE", "--out DIR", "--json FILE", "--quiet",
                 "--key VALUE or --set key=VALUE", "python -m jaxtext help"):
        assert text in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "lstm"], "error: unexpected 'lstm': settings are --key VALUE or key=VALUE"),
        (["train", "--set"], "error: --set needs KEY=VALUE, e.g. --set hidden=64"),
        (["train", "--epoch", "1"], "error: unknown config key 'epoch' (did you mean 'epochs'?)"),
        (["train", "--model", "lstm", "--hiden", "3"], "(did you mean 'hidden'?)"),
    ],
)
def test_train_mistakes_are_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# -- help: the same keys text in the shell and the notebook -----------------------------------


def test_cli_help_prints_core_keys_with_defaults_and_comments(capsys):
    assert main(["help"]) == 0
    out = capsys.readouterr().out
    assert "epochs: 3" in out and "passes over the training split" in out
    assert "lr: 0.002" in out and "peak learning rate" in out
    assert out.rstrip("\n") in help_text()  # %jaxtext help = magic usage + the same keys


def test_cli_help_model_matches_the_magic(capsys):
    assert main(["help", "lstm"]) == 0
    out = capsys.readouterr().out
    keys = out.split("\npresets of model")[0]  # the model's own keys; its presets may set core ones
    assert "hidden: 64" in keys and "LSTM state size" in keys and "epochs" not in keys
    assert "accurate (classify): truncate: 'head_tail'" in out
    assert out == help_text("lstm") + "\n" == jaxtext.keys_text("lstm") + "\n"


def test_cli_help_unknown_model_exits_2_with_a_suggestion(capsys):
    assert main(["help", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'nosuch'; known models: ") and err.count("\n") == 1
    assert main(["help", "lstn"]) == 2
    assert "(did you mean 'lstm'?)" in capsys.readouterr().err


# -- every entry point reads the same text the same way ----------------------------------------

CORE_KEYS = [f.name for f in dataclasses.fields(Config) if f.name != "model_args"]
KEYS = sorted(set(CORE_KEYS) | {f.name for f in dataclasses.fields(models.get("lstm").Config)})
WORDS = ["true", "false", "True", "no", "off", "yes", "on", "No", "~", "null", "1:30",
         "2024-01-01", "csv:data/x.csv", ".inf", "-.inf", "1e-3", "-1e-3", ".5", "3.", "1.5e+2",
         "+2", "0o17", "lstm", "mlp", "max", "mean", "lm", "classify", "adam", "cosine", "char"]
VALUE_TEXTS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.integers(1000, 10**8).map(lambda n: f"{n:_}"),
    st.integers(0, 4096).map(hex),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(WORDS),
    st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True),
)
PAIRS = st.lists(st.tuples(st.sampled_from(KEYS), VALUE_TEXTS), max_size=6,
                 unique_by=lambda pair: pair[0])


def _outcome(read_settings):
    """(settings or None, Config.to_dict() or the one-line error) for one entry point."""
    settings = None
    try:
        settings = read_settings()
        settings.setdefault("name", "clf")  # what %%train clf adds
        return settings, Config.from_dict(dict(settings)).to_dict()
    except JaxtextError as err:
        assert "\n" not in str(err), str(err)
        return settings, str(err)


@hypothesis_settings(max_examples=150, deadline=None)
@given(PAIRS)
def test_every_entry_point_reads_the_same_settings(pairs):
    if "model" not in dict(pairs):
        pairs = [("model", "lstm"), *pairs]  # so the lstm keys are known keys
    flags = [token for key, text in pairs for token in (f"--{key.replace('_', '-')}", text)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.yaml"
        path.write_text("".join(f"{key}: {text}\n" for key, text in pairs))
        outcomes = {
            "--config file": _outcome(lambda: cli_settings("--config", str(path))),
            "CLI --set": _outcome(
                lambda: cli_settings(*[t for k, v in pairs for t in ("--set", f"{k}={v}")])
            ),
            "CLI --key": _outcome(lambda: cli_settings(*flags)),
            "%%train body": _outcome(
                lambda: TrainCommand.parse("clf", path.read_text()).config
            ),
            "%%train line": _outcome(lambda: TrainCommand.parse("clf " + " ".join(flags)).config),
            "%train k=v": _outcome(
                lambda: TrainCommand.parse("clf " + " ".join(f"{k}={v}" for k, v in pairs)).config
            ),
        }
    first = outcomes["--config file"]
    for entry, outcome in outcomes.items():
        assert outcome == first, (entry, pairs)
