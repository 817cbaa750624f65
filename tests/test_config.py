import pytest
from conftest import settings_only_model

import jaxtext
from jaxtext.config import Config
from jaxtext.errors import ConfigError, UnknownNameError
from jaxtext.settings import parse_tokens


def test_defaults_and_model_keys():
    cfg = Config.from_dict({"model": "lstm", "epochs": 2, "hidden": 32})
    assert cfg.epochs == 2 and cfg.model_args.hidden == 32
    flat = cfg.to_dict()
    assert flat["hidden"] == 32 and flat["model"] == "lstm"
    assert Config.from_dict(flat) == cfg  # to_dict round-trips


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="unknown config key 'epoch' \\(did you mean 'epochs'\\?\\)"):
        Config.from_dict({"epoch": 2})


def test_unknown_key_without_close_match_lists_keys():
    with pytest.raises(ConfigError, match="keys for model 'mlp'"):
        Config.from_dict({"zzzzqqq": 1})


def test_unknown_model_names_known_ones():
    with pytest.raises(UnknownNameError, match="unknown model 'lstn' \\(did you mean 'lstm'\\?\\)"):
        Config.from_dict({"model": "lstn"})


@pytest.mark.parametrize("key,value,message", [
    ("epochs", "two", "must be int"),
    ("epochs", 0, "at least 1"),
    ("lr", -1.0, "positive"),
    ("task", "classfy", "did you mean 'classify'"),
    ("optimizer", "adamm", "did you mean 'adam"),
    ("warmup", 1.5, "fraction"),
])
def test_bad_values_are_one_clear_error(key, value, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({key: value})


def test_types_are_coerced_where_safe():
    cfg = Config.from_dict({"lr": 1, "epochs": 2.0, "lowercase": "false"})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.epochs == 2 and isinstance(cfg.epochs, int)
    assert cfg.lowercase is False


def test_config_is_frozen_and_replace_validates():
    cfg = Config.from_dict({})
    with pytest.raises(AttributeError):
        cfg.epochs = 5
    assert cfg.replace(epochs=5).epochs == 5
    with pytest.raises(ConfigError):
        cfg.replace(epochs=-1)


def test_cli_assignments_are_typed():
    def parse_assignment(text):  # `--set key=value`, read as the CLI reads it
        return next(iter(parse_tokens(["--set", text]).items()))

    assert parse_assignment("lr=3e-3") == ("lr", 0.003)
    assert parse_assignment("bidirectional=true") == ("bidirectional", True)
    assert parse_assignment("model=lstm") == ("model", "lstm")
    with pytest.raises(ConfigError):
        parse_assignment("lr")


def test_registry_lists_builtins_with_sources():
    from jaxtext.registry import REGISTRIES

    assert {"mlp", "lstm", "transformer"} <= set(REGISTRIES["models"].names())
    assert REGISTRIES["models"].sources()["mlp"] == "built-in"
    assert {"imdb", "rotten_tomatoes"} <= set(REGISTRIES["datasets"].names())
    assert {"word", "char", "bpe"} <= set(REGISTRIES["tokenizers"].names())
    assert {"progress", "dashboard"} <= set(REGISTRIES["callbacks"].names())


def test_public_api_is_small():
    assert set(jaxtext.__all__) >= {"train", "load", "register_model", "Callback", "Config"}


def test_model_training_defaults_apply_unless_given():
    def defaults(task):
        return {"lr": 0.5} if task == "classify" else {"lr": 0.25}

    with settings_only_model("suggests_lr", defaults):
        assert Config.from_dict({"model": "suggests_lr"}).lr == 0.5
        assert Config.from_dict({"model": "suggests_lr", "task": "lm", "sample_tokens": 0}).lr \
            == 0.25
        assert Config.from_dict({"model": "suggests_lr", "lr": 0.1}).lr == 0.1
