"""Every bad input is one short line: the problem and the fix, never a traceback.

A matrix of mistakes by area (config, settings text, data files and in-memory data, training
faults, persistence, predict/generate, the CLI, the magics). Each case asserts the error class
(a ``JaxtextError`` subclass from the API, exit code 2 from the CLI, ``UsageError`` in a
notebook), that the message names the problem, and that it is at most three lines and short.
Then hypothesis fuzzes every settings entry point: success or a ``JaxtextError``, nothing else.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tempfile

import datasets
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import jaxtext
from jaxtext import cli
from jaxtext.config import Config
from jaxtext.data import load_data
from jaxtext.data.tokenizer import TextTokenizer
from jaxtext.errors import (
    ConfigError,
    DataError,
    JaxtextError,
    RunFolderError,
    TrainingError,
    UnknownNameError,
)
from jaxtext.magics import TrainCommand
from jaxtext.settings import parse_tokens, parse_yaml_settings, read_settings_file

MAX_CHARS = 400


def check_message(message: str, pattern: str, forbid: str | None = None) -> None:
    """Names the problem (``pattern``), at most 3 lines, short, no traceback."""
    assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    assert message.count("\n") <= 2, message
    assert len(message) < MAX_CHARS, f"{len(message)} chars: {message}"
    assert "Traceback" not in message and 'File "' not in message, message
    if forbid is not None:
        assert not re.search(forbid, message), f"{forbid!r} should not be in {message!r}"


def expect(error: type[BaseException], pattern: str, call, forbid: str | None = None) -> None:
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, JaxtextError) or error is UsageError
    check_message(str(info.value), pattern, forbid)


# -- config: keys, values, types ----------------------------------------------------------

C = Config.from_dict
CONFIG = [
    ({"seed": -1}, ConfigError, r"seed must be in 0 <= seed < 2\*\*63, got -1"),
    ({"seed": 2**63}, ConfigError, r"seed must be below 2\*\*63"),
    ({"seed": 2**64 + 5}, ConfigError, r"seed must be below 2\*\*63"),
    ({"seed": 1.5}, ConfigError, r"'seed' must be int, got 1\.5"),
    ({"seed": True}, ConfigError, r"'seed' must be int, got True \(bool\)"),
    ({"seed": "abc"}, ConfigError, r"'seed' must be int, got 'abc'"),
    ({"epochs": 0}, ConfigError, r"epochs must be at least 1, got 0"),
    ({"epochs": -3}, ConfigError, r"epochs must be at least 1"),
    ({"epochs": 10**30}, ConfigError, r"epochs must be below 2\*\*63"),
    ({"epochs": 10**5000}, ConfigError, r"epochs must be below 2\*\*63.*-bit int"),
    ({"epochs": "two"}, ConfigError, r"'epochs' must be int, got 'two' \(str\)"),
    ({"epochs": None}, ConfigError, r"'epochs' must be int, got None"),
    ({"epochs": [1]}, ConfigError, r"'epochs' must be int, got \[1\] \(list\)"),
    ({"batch_size": 0}, ConfigError, r"batch_size must be at least 1"),
    ({"max_len": 0}, ConfigError, r"max_len must be at least 1"),
    ({"max_len": 1.5}, ConfigError, r"'max_len' must be int, got 1\.5"),
    ({"max_len": math.inf}, ConfigError, r"'max_len' must be int, got inf"),
    ({"vocab_size": 3}, ConfigError, r"vocab_size must be at least 4"),
    ({"lr": 0}, ConfigError, r"lr must be positive"),
    ({"lr": math.nan}, ConfigError, r"lr must be a finite number, got nan"),
    ({"lr": math.inf}, ConfigError, r"lr must be a finite number, got inf"),
    ({"lr": "fast"}, ConfigError, r"'lr' must be float, got 'fast'"),
    ({"lr": 10**400}, ConfigError, r"lr must be a float.*beyond any float"),
    ({"warmup": 1.5}, ConfigError, r"warmup is a fraction of all steps in \[0, 1\)"),
    ({"weight_decay": -1}, ConfigError, r"weight_decay must not be negative"),
    ({"grad_clip": math.nan}, ConfigError, r"grad_clip must be a finite number"),
    ({"optimizer": "adamm"}, ConfigError, r"optimizer must be one of .*did you mean 'adam"),
    ({"schedule": "cosin"}, ConfigError, r"schedule must be one of .*did you mean 'cosine'"),
    ({"task": "classfy"}, ConfigError, r"task must be one of .*did you mean 'classify'"),
    ({"task": None}, ConfigError, r"'task' must be str, got None"),
    ({"task": "x" * 5000}, ConfigError, r"task must be one of classify, lm, regression, multilabel, not 'xxx"),
    ({"lowercase": "maybe"}, ConfigError, r"'lowercase' must be bool, got 'maybe'"),
    ({"text_column": 5}, ConfigError, r"'text_column' must be str, got 5"),
    ({"limit": -1}, ConfigError, r"limit must not be negative"),
    ({"sample_tokens": -1}, ConfigError, r"sample_tokens must not be negative"),
    ({"log_every": -1}, ConfigError, r"log_every must not be negative"),
    ({"keep_checkpoints": 0}, ConfigError, r"keep_checkpoints must be at least 1"),
    ({"checkpoint_every": "soon"}, ConfigError, r"checkpoint_every must be a number of steps"),
    ({"checkpoint_every": 1.5}, ConfigError, r"'checkpoint_every' must be int or str"),
    ({"checkpoint_every": -1}, ConfigError, r"checkpoint_every must be a number of steps"),
    ({"checkpoint_every": "9" * 5000}, ConfigError, r"checkpoint_every must be a number"),
    ({"resume": "runs/a", "init": "runs/b"}, ConfigError, r"give one of them"),
    ({"epoch": 2}, ConfigError, r"unknown config key 'epoch' \(did you mean 'epochs'\?\)"),
    ({"zzzz": 1}, ConfigError, r"unknown config key 'zzzz'; keys for model 'mlp': bag, context, dim"),
    ({"x" * 3000: 1}, ConfigError, r"unknown config key 'xxx"),
    ({"model": "transformer", "zzzz": 1}, ConfigError, r"keys for model 'transformer'"),
    ({1: 2}, ConfigError, r"config keys are names such as 'epochs', not 1"),
    ({"model": "lstn"}, UnknownNameError, r"unknown model 'lstn' \(did you mean 'lstm'\?\)"),
    ({"model": 5}, UnknownNameError, r"unknown model 5; known models"),
    ({"model": None}, UnknownNameError, r"unknown model None; known models"),
    ({"model": ["mlp"]}, UnknownNameError, r"unknown model \['mlp'\]"),
    ({"monitor": "acc"}, ConfigError, r"monitor for task 'classify' must be one of .*not 'acc'"),
    ({"monitor": "acuracy"}, ConfigError, r"did you mean 'accuracy'"),
    ({"task": "lm", "monitor": "accuracy"}, ConfigError, r"monitor for task 'lm' must be one"),
    ({"monitor": "perplexity"}, ConfigError, r"monitor for task 'classify' must be one of"),
    ({"early_stopping": -1}, ConfigError, r"early_stopping must not be negative"),
    ({"dim": 0}, ConfigError, r"model 'mlp': dim must be at least 1"),
    ({"layers": -1}, ConfigError, r"model 'mlp': layers must not be negative"),
    ({"hidden": "big"}, ConfigError, r"'hidden' must be int, got 'big'"),
    ({"dim": 2**70}, ConfigError, r"dim must be below 2\*\*63"),
    ({"model": "lstm", "dropout": 1.5}, ConfigError, r"model 'lstm': dropout must be in \[0, 1\)"),
    ({"model": "lstm", "dropout": math.nan}, ConfigError, r"dropout must be in \[0, 1\), got nan"),
    ({"model": "lstm", "pooling": "avg"}, ConfigError, r"pooling must be one of mean, max"),
    ({"model": "transformer", "heads": 3}, ConfigError, r"heads \(3\) must divide dim \(64\)"),
    ({"model": "transformer", "mlp_ratio": math.nan}, ConfigError,
     r"mlp_ratio must be a positive finite number, got nan"),
    ({"model": "transformer", "mlp_ratio": -1}, ConfigError, r"mlp_ratio must be a positive"),
    ({"model": "transformer", "tie_weights": "sometimes"}, ConfigError,
     r"'tie_weights' must be bool"),
]


@pytest.mark.parametrize("values, error, pattern", CONFIG,
                         ids=[f"config-{i}" for i in range(len(CONFIG))])
def test_config(values, error, pattern):
    expect(error, pattern, lambda: C(values))


@pytest.mark.parametrize("values, pattern", [
    ([("epochs", 1)], r"config must be a dict of keys .*not list"),
    ("epochs: 1", r"config must be a dict of keys .*not str"),
])
def test_config_that_is_not_a_dict(values, pattern):
    expect(ConfigError, pattern, lambda: C(values))


# -- settings text: bodies, files, tokens, YAML tags --------------------------------------

BODIES = [
    ("model: [", r"cell body is not valid YAML at line 1"),
    ("lr: 1\nlr: 2", r"duplicate key 'lr' at line 2 of the cell body; keep one"),
    ("- a\n- b", r"must be YAML 'key: value' lines, got a list"),
    ("just text", r"must be YAML 'key: value' lines, got a str"),
    ("seed: !!timestamp 2024-13-45", r"!!timestamp cannot read '2024-13-45'"),
    ("seed: !!timestamp garbage", r"!!timestamp cannot read 'garbage'"),
    ("lr: !!float fast", r"'fast' is not a float"),
    ("epochs: !!int 1.5", r"'1\.5' is not an int"),
    ("lowercase: !!bool maybe", r"'maybe' is not true or false"),
    ("x: !!binary ***", r"not valid YAML at line 1"),
    ("x: !!python/object:os.system ls", r"could not determine a constructor"),
    ("x: !foo 1", r"could not determine a constructor for the tag '!foo'"),
    ("x: *nothing", r"found undefined alias 'nothing'"),
    ("a: 1\n---\nb: 2", r"not valid YAML at line 2"),
    ("1: a", r"config keys are names such as 'epochs', not 1"),
    ("? [a]\n: 1", r"found unhashable key"),
    ("<<: {a: 1}", r"config keys are names such as 'epochs', not '<<'"),
    ("a: \x00", r"special characters are not allowed"),
    ("a:\n\tb: 1", r"found character '\\t'"),
    ("epochs: " + "9" * 5000, r"!!int cannot read '999"),
    ("a: " + "[" * 3000 + "]" * 3000, r"nested too deeply"),
    ("a: b: c", r"mapping values are not allowed here"),
    ("'unclosed: 1", r"not valid YAML"),
]


@pytest.mark.parametrize("body, pattern", BODIES, ids=[f"body-{i}" for i in range(len(BODIES))])
def test_settings_body(body, pattern):
    expect(ConfigError, pattern, lambda: parse_yaml_settings(body))


def test_settings_body_that_is_not_text():
    expect(ConfigError, r"the cell body must be text .*not NoneType",
           lambda: parse_yaml_settings(None))


SETTINGS_FILES = [
    ("missing.yaml", None, r"config file '.*missing\.yaml' not found"),
    ("latin1.yaml", b"name: h\xe9\n", r"is not UTF-8 text \(byte 0xe9 at position 7\)"),
    ("utf16.yaml", "name: x\n".encode("utf-16"), r"not UTF-8 text .*iconv -f utf-16"),
    ("list.yaml", b"- a\n", r"got a list"),
    ("bad.yaml", b"model: [\n", r"config file '.*bad\.yaml' is not valid YAML at line 1"),
    ("folder", "dir", r"cannot read config file '.*folder': Is a directory"),
]


@pytest.mark.parametrize("name, content, pattern", SETTINGS_FILES,
                         ids=[c[0] for c in SETTINGS_FILES])
def test_settings_file(tmp_path, name, content, pattern):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    expect(ConfigError, pattern, lambda: read_settings_file(path))


TOKENS = [
    (["lstm"], r"unexpected 'lstm': settings are --key VALUE or key=VALUE"),
    (["--set"], r"--set needs KEY=VALUE"),
    (["--set", "x"], r"--set needs KEY=VALUE"),
    (["--set=x"], r"--set needs KEY=VALUE"),
    (["--", "1"], r"'' is not a config key name"),
    (["--9lives", "1"], r"'9lives' is not a config key name"),
    (["=1"], r"'' is not a config key name"),
    (["--lr", "!!float x"], r"value '!!float x' is not valid YAML: 'x' is not a float"),
    (["--seed", "!!timestamp x"], r"!!timestamp cannot read 'x'"),
    ([5], r"settings are a list of text tokens"),
    ("--epochs 1", r"settings are a list of text tokens"),
]


@pytest.mark.parametrize("tokens, pattern", TOKENS, ids=[f"tokens-{i}" for i in range(len(TOKENS))])
def test_settings_tokens(tokens, pattern):
    expect(ConfigError, pattern, lambda: parse_tokens(tokens))


MAGIC_LINES = [
    ("", "", r"missing NAME for the result"),
    ("1abc", "", r"NAME must be a Python variable name, not '1abc'"),
    ("class", "", r"NAME must be a Python variable name, not 'class'"),
    ("clf 'oops", "", r"cannot read the magic line"),
    ("clf", "model: [", r"not valid YAML at line 2"),
    ("clf data=$nope", "", r"data: \$nope names no variable in the notebook"),
]


@pytest.mark.parametrize("line, body, pattern", MAGIC_LINES,
                         ids=[f"magic-line-{i}" for i in range(len(MAGIC_LINES))])
def test_settings_magic_line(line, body, pattern):
    expect(ConfigError, pattern, lambda: TrainCommand.parse(line, body, {}))


# -- data sources: files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    contents = {
        "zero.csv": b"", "zero.txt": b"", "zero.json": b"",
        "header.csv": b"text,label\n",
        "latin1.txt": b"ab\xffcd\nxyz\n",
        "latin1.csv": b"text,label\nh\xe9llo,1\n",
        "utf16.txt": "one line\n".encode("utf-16"),
        "bad.json": b"{bad json",
        "bad.parquet": b"not parquet",
        "wrongcol.csv": b"txt,label\na,1\nb,0\n",
        "blank.csv": b"text,label\n,1\n ,0\n",
        "one.csv": b"text,label\na,1\n",
        "good.csv": b"text,label\n" + b"".join(b"t%d,%d\n" % (i, i % 2) for i in range(20)),
    }
    for name, data in contents.items():
        (root / name).write_bytes(data)
    (root / "emptydir").mkdir()
    (root / "zeros").mkdir()
    (root / "zeros" / "a.csv").write_bytes(b"")
    (root / "zeros" / "b.csv").write_bytes(b"")
    return {name: str(root / name) for name in [*contents, "emptydir", "zeros"]}


DATA_FILES = [
    ("csv:", "zero.csv", {}, r"zero\.csv is empty \(0 bytes\); put csv data in it"),
    ("text:", "zero.txt", {"task": "lm"}, r"zero\.txt is empty \(0 bytes\)"),
    ("json:", "zero.json", {}, r"zero\.json is empty \(0 bytes\)"),
    ("hf:", "zero.csv", {}, r"zero\.csv is empty \(0 bytes\)"),
    ("csv:", "zeros", {}, r"every file of .*zeros is empty \(0 bytes\)"),
    ("csv:", "header.csv", {}, r"header\.csv has a header but no rows"),
    ("text:", "latin1.txt", {"task": "lm"},
     r"latin1\.txt is not UTF-8 text \(byte 0xff at position 2\); convert it to UTF-8"),
    ("csv:", "latin1.csv", {}, r"latin1\.csv is not UTF-8 text \(byte 0xe9 at position 12\)"),
    ("text:", "utf16.txt", {"task": "lm"}, r"utf16\.txt is not UTF-8 text .*-f utf-16"),
    ("json:", "bad.json", {}, r"bad\.json is neither JSON nor JSON lines: line 1"),
    ("parquet:", "bad.parquet", {}, r"cannot read parquet:.*bad\.parquet: .*Parquet"),
    ("csv:", "emptydir", {}, r"folder .*emptydir has no files; put csv files in it"),
    ("csv:", "missing.csv", {}, r"file not found: .*missing\.csv; check the path"),
    ("text:", "*.nomatch", {}, r"file not found: .*\*\.nomatch"),
    ("csv:", "wrongcol.csv", {},
     r"has no text column 'text' \(did you mean 'txt'\?\).*pass text_column='txt'"),
    ("csv:", "good.csv", {"label_column": "lable"},
     r"has no label column 'lable' \(did you mean 'label'\?\)"),
    ("csv:", "blank.csv", {}, r"every text in column 'text' of split 'train' is empty"),
    ("csv:", "one.csv", {}, r"only 1 training rows, too few to carve out"),
    ("cvs:", "one.csv", {}, r"unknown data prefix 'cvs:' \(did you mean 'csv'\?\)"),
    ("", "good.csv", {}, r"unknown dataset .*\(a file\? pass 'csv:"),
]


@pytest.mark.parametrize("prefix, name, kwargs, pattern", DATA_FILES,
                         ids=[f"file-{p[:-1] or 'none'}-{n}" for p, n, _, _ in DATA_FILES])
def test_data_file(files, prefix, name, kwargs, pattern):
    path = files.get(name, os.path.join(os.path.dirname(files["good.csv"]), name))
    expect(DataError, pattern, lambda: load_data(prefix + path, **kwargs))


@pytest.mark.parametrize("data, pattern", [
    ("imbd", r"unknown dataset 'imbd' \(did you mean 'imdb'\?\)"),
    ("hf:./no/such/folder", r"file not found: \./no/such/folder"),
    ("", r"unknown dataset ''"),
])
def test_data_names(data, pattern):
    expect(DataError, pattern, lambda: load_data(data))


# -- data sources: in memory --------------------------------------------------------------

TEXTS = ["good film", "bad film", "great movie", "awful movie"] * 5
NO_LABEL_GUESS = r"text_column='label'"  # the label column is never the texts
MEMORY = [
    ([], {}, r"<0 texts> is empty \(no rows\)", None),
    ([], {"task": "lm"}, r"is empty \(no rows\)", None),
    ([1, 2] * 10, {"task": "lm"}, r"cannot load a list of int", None),
    (["a", 1] * 10, {"task": "lm"}, r"a list of texts must hold only strings, but item 1 is int",
     None),
    ([{"text": "a", "label": 1}, "b"], {}, r"a list of records must hold only dicts", None),
    ((TEXTS, [1, "neg"] * 10), {}, r"labels mix types \(int, str\); use one type", None),
    ((TEXTS, [True, 2] * 10), {}, r"labels mix types \(bool, int\)", None),
    ({"text": TEXTS, "label": [1, "neg"] * 10}, {}, r"labels mix types \(int, str\)", None),
    (pd.DataFrame({"text": TEXTS, "label": [1, "neg"] * 10}), {},
     r"labels mix types \(int, str\)", None),
    ([{"text": t, "label": y} for t, y in zip(TEXTS, [1, "neg"] * 10, strict=True)], {},
     r"labels mix types \(int, str\)", None),
    (([1, "a"] * 10, ["pos", "neg"] * 10), {}, r"column 'text' mixes types \(int, str\)", None),
    ((TEXTS, ["pos"] * 20), {}, r"has a single class \('pos'\) in train", None),
    ((["", " "] * 10, ["pos", "neg"] * 10), {},
     r"every text in column 'text' of split 'train' is empty \(20 rows\)", NO_LABEL_GUESS),
    ({"text": [""] * 20, "label": ["pos", "neg"] * 10}, {}, r"every text in column 'text'",
     NO_LABEL_GUESS),
    ({"text": [None] * 20, "label": ["pos", "neg"] * 10}, {},
     r"column 'text' holds no values \(all missing\)", NO_LABEL_GUESS),
    ({"label": ["pos", "neg"] * 10, "text": [1, 2] * 10}, {}, r"column 'text' holds int64",
     NO_LABEL_GUESS),
    ({"text": [""] * 20, "review": TEXTS, "label": ["pos", "neg"] * 10}, {},
     r"every text in column 'text'.*pass text_column='review'", None),
    ({"label": ["pos", "neg"] * 10, "review": TEXTS}, {},
     r"no text column 'text'.*pass text_column='review'", NO_LABEL_GUESS),
    (["", "  "] * 10, {"task": "lm"}, r"every text in column 'text'", NO_LABEL_GUESS),
    ((["a", "b"], ["pos", "neg"]), {}, r"only 2 training rows, too few to carve out", None),
    ((["a", "b", "c"], ["pos", "neg", "pos"]), {}, r"too few rows: after carving out", None),
    (["a"], {"task": "lm"}, r"only 1 training rows, too few", None),
    ((["a", "b", "c"], ["pos", "neg"]), {}, r"different lengths \(3 and 2\)", None),
    ({"text": ["a", "b", "c"], "label": ["pos", "neg"]}, {},
     r"columns have different lengths \(text: 3, label: 2\)", None),
    ({"text": "abc", "label": "x"}, {}, r"column 'text' must be a list of values .*not str", None),
    ({"text": 5}, {"task": "lm"}, r"column 'text' must be a list of values .*not int", None),
    ((TEXTS, [[1], [2]] * 10), {}, r"label column 'label' holds lists", None),
    ((TEXTS, [{"a": 1}, {"a": 2}] * 10), {}, r"label column 'label' holds records", None),
    ((TEXTS, [0.5, 1.5] * 10), {}, r"holds fractional numbers", None),
    ((TEXTS, [None] * 20), {}, r"label column 'label' is empty in train", None),
    ({"text": TEXTS, "label": [0, 1] * 10}, {"label_column": "text"},
     r"text_column and label_column are both 'text'", None),
    (5, {}, r"cannot load data of type int", None),
    ({"a", "b"}, {}, r"cannot load data of type set", None),
    ((["a"], ["b"], ["c"]), {}, r"cannot load a tuple of list", None),
    (datasets.DatasetDict(), {}, r"has no splits", None),
    (datasets.DatasetDict({"a": datasets.Dataset.from_dict({"text": ["x"]}),
                           "b": datasets.Dataset.from_dict({"text": ["y"]})}), {},
     r"has no 'train' split \(splits: a, b\)", None),
    (TEXTS, {}, r"has no label column 'label' .*pass labels too", None),
]


@pytest.mark.parametrize("data, kwargs, pattern, forbid", MEMORY,
                         ids=[f"memory-{i}" for i in range(len(MEMORY))])
def test_data_in_memory(data, kwargs, pattern, forbid):
    expect(DataError, pattern, lambda: load_data(data, **kwargs), forbid)


# -- training faults (config checked before data, data before compiling) -----------------

LM_TEXTS = ["the cat sat on the mat", "a dog ran in the park", "birds fly over the sea"] * 20
CLASSIFY = (TEXTS * 2, ["pos", "neg"] * 20)
QUIET = {"callbacks": [], "epochs": 1}
TRAINING = [
    ({"callbacks": 5}, ConfigError, r"callbacks must be registered names.*not int \(5\)"),
    ({"callbacks": [5]}, ConfigError, r"callbacks must be .*not int"),
    ({"callbacks": ["progress", None]}, ConfigError, r"not NoneType"),
    ({"callbacks": "nosuch"}, UnknownNameError, r"unknown callback 'nosuch'"),
    ({"callbacks": ["progres"]}, UnknownNameError, r"did you mean 'progress'"),
    ({"data": CLASSIFY, "tokenizer": "wrd"}, UnknownNameError,
     r"unknown tokenizer 'wrd' \(did you mean 'word'\?\)"),
    ({"data": CLASSIFY, "seed": -1}, ConfigError, r"seed must be in 0 <= seed < 2\*\*63"),
    ({"data": CLASSIFY, "monitor": "perplexity", "early_stopping": 2}, ConfigError,
     r"monitor for task 'classify' must be one of accuracy, macro_f1, loss"),
    ({"data": LM_TEXTS, "task": "lm", "monitor": "macro_f1", "early_stopping": 1}, ConfigError,
     r"monitor for task 'lm' must be one of loss, perplexity"),
    ({"data": LM_TEXTS, "task": "lm", "tokenizer": "char", "max_len": 10**9}, ConfigError,
     r"max_len 1000000000 with batch_size 64 needs about .* for one training step of model "
     r"'mlp', more than the .* available; use a smaller max_len or batch_size"),
    ({"data": LM_TEXTS, "task": "lm", "tokenizer": "char", "model": "lstm", "max_len": 2**40},
     ConfigError, r"needs about .*PiB for one training step of model 'lstm'"),
    ({"data": LM_TEXTS, "task": "lm", "tokenizer": "char", "model": "transformer",
      "max_len": 200_000}, ConfigError, r"model 'transformer', more than"),
    ({"data": CLASSIFY, "model": "transformer", "max_len": 10**9}, ConfigError,
     r"max_len 1000000000 .* model 'transformer'"),
    ({"data": CLASSIFY, "batch_size": 10**13}, ConfigError, r"use a smaller max_len or batch_size"),
    ({"data": [], "task": "lm"}, DataError, r"is empty \(no rows\)"),
    ({"data": "csv:/no/such/file.csv"}, DataError, r"file not found"),
    ({"data": CLASSIFY, "init": 5}, ConfigError, r"init must be a Run or a run folder"),
]


@pytest.mark.parametrize("keys, error, pattern", TRAINING,
                         ids=[f"train-{i}" for i in range(len(TRAINING))])
def test_training_fault(keys, error, pattern):
    expect(error, pattern, lambda: jaxtext.train(**{**QUIET, **keys}))


@pytest.mark.slow
def test_training_nan_loss_is_one_line_naming_the_fix():
    with pytest.raises(TrainingError) as info:
        jaxtext.train(data=CLASSIFY, lr=1e38, optimizer="sgd", grad_clip=0.0, layers=1,
                      hidden=8, max_len=8, batch_size=8, epochs=2, callbacks=[])
    check_message(str(info.value), r"diverged at step \d+: the loss became NaN.*lower lr")
    assert info.value.run is not None and info.value.run.status == "failed"


@pytest.mark.slow
def test_the_largest_seed_trains():
    run = jaxtext.train(data=CLASSIFY, seed=2**63 - 1, max_len=8, batch_size=8, **QUIET)
    assert run.status == "completed"


# -- Ctrl-C while data is prepared: KeyboardInterrupt as usual, no half-written cache ------


@pytest.fixture
def cache(tmp_path, monkeypatch, files):
    """An empty datasets cache (ours lives under it) and a file-backed csv to train on."""
    root = tmp_path / "hf"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(root))
    return root


def _ours(root) -> list[str]:
    folder = root / "jaxtext"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() \
        else []


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_tokenizer_training_leaves_no_cache_entry(cache, files, monkeypatch):
    monkeypatch.setattr(TextTokenizer, "train", classmethod(_interrupt))
    with pytest.raises(KeyboardInterrupt):
        jaxtext.train(data="csv:" + files["good.csv"], **QUIET)
    assert not [p for p in _ours(cache) if p.endswith(".json")]


def test_ctrl_c_while_an_encoding_is_written_leaves_no_partial_file(cache, files, monkeypatch):
    def half_written(path, **arrays):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half of an npz")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        jaxtext.train(data="csv:" + files["good.csv"], **QUIET)
    left = _ours(cache)
    assert [p for p in left if p.startswith("tokenizers/")], left  # the finished entry stays
    assert not [p for p in left if p.startswith("encoded/") and p != "encoded"], left


def test_ctrl_c_inside_an_atomic_write_removes_the_temporary_folder(tmp_path):
    from jaxtext.data.disk_cache import _atomic_write

    def partial(tmp):
        tmp.mkdir()
        (tmp / "part").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _atomic_write(tmp_path / "entry", partial)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_the_cli_is_one_line_exit_130(cache, files, monkeypatch, capsys):
    monkeypatch.setattr(TextTokenizer, "train", classmethod(_interrupt))
    assert cli.main(["train", "--data", "csv:" + files["good.csv"], "--quiet"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted"
    assert not [p for p in _ours(cache) if p.endswith(".json")]


def test_ctrl_c_in_a_magic_is_one_usage_error(cache, files, monkeypatch, ip):
    monkeypatch.setattr(TextTokenizer, "train", classmethod(_interrupt))
    ip.user_ns["path"] = "csv:" + files["good.csv"]
    expect(UsageError, r"^interrupted; `clf` is unchanged$",
           lambda: ip.run_line_magic("train", "clf data=$path epochs=1 --callbacks none"))
    assert "clf" not in ip.user_ns


# -- persistence: load and save on bad paths (damaged run folders: test_durability.py) ----


def test_load_of_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    expect(RunFolderError, r"is a file, not a run folder",
           lambda: jaxtext.load(tmp_path / "notes.txt"))


def test_load_of_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    expect(RunFolderError, r"no saved run at .*\(meta\.json missing\)",
           lambda: jaxtext.load(tmp_path))


def test_load_of_an_empty_folder(tmp_path):
    expect(RunFolderError, r"no saved run at", lambda: jaxtext.load(tmp_path))


def test_load_of_a_data_folder(files):
    expect(RunFolderError, r"no saved run at", lambda: jaxtext.load(files["zeros"]))


@pytest.mark.parametrize("path", [None, 123, ["runs/x"]])
def test_load_of_nothing(path):
    expect(ConfigError, r"load takes a run folder's path", lambda: jaxtext.load(path))


def test_save_under_a_file(tiny_run, tmp_path):
    (tmp_path / "f").write_text("a file")
    expect(RunFolderError, r"cannot save the run to .*f/run: File exists",
           lambda: tiny_run.save(tmp_path / "f" / "run"))


def test_save_to_nothing(tiny_run):
    expect(ConfigError, r"save takes a folder path, not NoneType", lambda: tiny_run.save(None))


# -- predict / evaluate / generate -------------------------------------------------------


@pytest.fixture(scope="module")
def lm_run():
    return jaxtext.train(model="mlp", task="lm", tokenizer="char", data=LM_TEXTS, max_len=16,
                         epochs=1, callbacks=[])


CLASSIFIER_CALLS = [
    (lambda r: r.predict(123), ConfigError, r"predict takes a text or a list of texts, not int"),
    (lambda r: r.predict(None), ConfigError, r"predict takes a text .*not NoneType"),
    (lambda r: r.predict([1, 2]), ConfigError, r"not a list holding int \(item 0: 1\)"),
    (lambda r: r.predict(["a", None]), ConfigError, r"holding NoneType \(item 1: None\)"),
    (lambda r: r.predict(b"bytes"), ConfigError, r"predict takes a text .*not bytes"),
    (lambda r: r.predict({"a": 1}), ConfigError, r"predict takes a text .*not dict"),
    (lambda r: r.predict(1.5), ConfigError, r"predict takes a text .*not float"),
    (lambda r: r.evaluate("nope"), DataError, r"unknown dataset 'nope'"),
    (lambda r: r.evaluate(None), DataError, r"cannot load data of type NoneType"),
    (lambda r: r.evaluate(([], [])), DataError, r"no rows to evaluate"),
    (lambda r: r.evaluate((["a", "b"], ["positive"])), DataError, r"2 texts but 1 labels"),
    (lambda r: r.evaluate((["a"], ["zzz"])), DataError,
     r"labels \['zzz'\] are not classes of this run \(negative, positive\)"),
    (lambda r: r.evaluate({"txt": ["a"], "label": ["positive"]}), DataError,
     r"column 'text' not found; columns: txt, label"),
    (lambda r: r.evaluate(["a", "b"]), DataError, r"has no label column 'label'"),
    (lambda r: r.evaluate((5, 6)), DataError, r"column 'texts' must be a list of values"),
    (lambda r: r.generate("x"), ConfigError, r"generate\(\) needs a language model"),
]


@pytest.mark.parametrize("call, error, pattern", CLASSIFIER_CALLS,
                         ids=[f"classifier-{i}" for i in range(len(CLASSIFIER_CALLS))])
def test_classifier_call(tiny_run, call, error, pattern):
    expect(error, pattern, lambda: call(tiny_run))


def test_predict_nothing_is_an_empty_table(tiny_run):
    frame = tiny_run.predict([])
    assert len(frame) == 0
    assert list(frame.columns) == ["text", "label", *tiny_run.label_names]
    assert list(frame.columns) == list(tiny_run.predict(["a fine film"]).columns)


G = "the"
LM_CALLS = [
    (lambda r: r.generate(123), r"generate takes a prompt text, not int"),
    (lambda r: r.generate(None), r"generate takes a prompt text, not NoneType"),
    (lambda r: r.generate(["a"]), r"generate takes a prompt text, not list"),
    (lambda r: r.generate(G, temperature=math.nan), r"temperature must be a finite number"),
    (lambda r: r.generate(G, temperature=math.inf), r"temperature must be a finite number"),
    (lambda r: r.generate(G, temperature=-1), r"temperature must be >= 0"),
    (lambda r: r.generate(G, temperature="hot"), r"temperature must be a number, got 'hot'"),
    (lambda r: r.generate(G, top_p=math.nan), r"top_p must be a finite number, got nan"),
    (lambda r: r.generate(G, top_p=0), r"top_p must be in \(0, 1\]"),
    (lambda r: r.generate(G, top_p=1.5), r"top_p must be in \(0, 1\]"),
    (lambda r: r.generate(G, top_k=-1), r"top_k must be at least 0"),
    (lambda r: r.generate(G, top_k=1.5), r"top_k must be an int, got 1\.5"),
    (lambda r: r.generate(G, max_new_tokens=0), r"max_new_tokens must be at least 1"),
    (lambda r: r.generate(G, max_new_tokens="4"), r"max_new_tokens must be an int, got '4'"),
    (lambda r: r.generate(G, max_new_tokens=1.5), r"max_new_tokens must be an int"),
    (lambda r: r.generate(G, max_new_tokens=True), r"max_new_tokens must be an int, got True"),
    (lambda r: r.generate(G, max_new_tokens=10**12),
     r"max_new_tokens 1000000000000 x num_samples 1 needs about [\d.,]+ TiB of decode buffers, "
     r"above the 1\.0 GiB cap"),
    (lambda r: r.generate(G, max_new_tokens=10**30), r"decode buffers, above the .* cap"),
    (lambda r: r.generate(G, num_samples=0), r"num_samples must be at least 1"),
    (lambda r: r.generate(G, num_samples=10**9, max_new_tokens=4), r"num_samples 1000000000"),
    (lambda r: r.generate(G, seed=-1), r"seed must be at least 0"),
    (lambda r: r.generate(G, seed=2**64), r"seed must be in 0 <= seed < 2\*\*63"),
    (lambda r: r.generate(G, temprature=0.5),
     r"generate\(\) has no option 'temprature' \(did you mean 'temperature'\?\)"),
    (lambda r: r.predict("x"), r"predict\(\) is for classifiers; this run is a language model"),
    (lambda r: r.confusion_matrix, r"is for classifiers"),
]


@pytest.mark.parametrize("call, pattern", LM_CALLS, ids=[f"lm-{i}" for i in range(len(LM_CALLS))])
def test_language_model_call(lm_run, call, pattern):
    expect(ConfigError, pattern, lambda: call(lm_run))


@pytest.mark.parametrize("data, pattern", [
    ([], r"no rows to evaluate"),
    (5, r"cannot load data of type int"),
])
def test_language_model_evaluate(lm_run, data, pattern):
    expect(DataError, pattern, lambda: lm_run.evaluate(data))


# -- CLI: exit code 2, one `error:` line, no traceback -----------------------------------


@pytest.fixture(scope="module")
def saved(tiny_run, lm_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tiny_run.save(root / "clf")
    lm_run.save(root / "lm")
    return {"clf": str(root / "clf"), "lm": str(root / "lm"), "root": str(root)}


CLI = [
    (["train", "--epochs", "0"], r"epochs must be at least 1, got 0"),
    (["train", "--seed", "-1"], r"seed must be in 0 <= seed < 2\*\*63"),
    (["train", "--seed", str(2**63)], r"seed must be below 2\*\*63"),
    (["train", "--bogus", "1"], r"unknown config key 'bogus'"),
    (["train", "lstm"], r"unexpected 'lstm'"),
    (["train", "--config"], r"--config needs a value"),
    (["train", "--config", "{root}/missing.yaml"], r"config file .* not found"),
    (["train", "--lr", ".nan"], r"lr must be a finite number"),
    (["train", "--lr", "nan"], r"lr must be a number or 'suggested' \(the LR finder's rate\), not 'nan'"),
    (["train", "--model", "lstn"], r"unknown model 'lstn' \(did you mean 'lstm'\?\)"),
    (["train", "--data", "nosuch", "--quiet"], r"unknown dataset 'nosuch'"),
    (["train", "--callbacks", "x"], r"unknown config key 'callbacks'"),
    (["predict", "{root}/nothing", "hi"], r"no saved run at"),
    (["predict", "{lm}", "hi"], r"predict\(\) is for classifiers"),
    (["predict", "{clf}"], r"the following arguments are required: texts"),
    (["generate", "{clf}"], r"generate\(\) needs a language model: this run is a classifier"),
    (["generate", "{lm}", "--temperature", "nan"], r"temperature must be a finite number"),
    (["generate", "{lm}", "--top-p", "2"], r"top_p must be in \(0, 1\]"),
    (["generate", "{lm}", "--num-samples", "0"], r"num_samples must be at least 1"),
    (["generate", "{lm}", "--max-new-tokens", "abc"],
     r"argument --max-new-tokens: invalid int value: 'abc'"),
    (["generate", "{lm}", "--max-new-tokens", "1000000000000"], r"decode buffers, above the"),
    (["export", "{root}/nothing", "{root}/out"], r"no saved run at"),
    (["export", "{clf}", "{clf}"], r"exists and is not a jaxtext export"),
    (["serve", "{root}/nothing"], r"no export or saved run at"),
    (["serve", "{clf}", "--max-batch", "0"], r"--max-batch must be at least 1"),
    (["serve", "{clf}", "--port", "http"], r"argument --port: invalid int value: 'http'"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
    ([], r"the following arguments are required: command"),
    (["list", "x"], r"unrecognized arguments: x"),
    (["help", "lstn"], r"unknown model 'lstn' \(did you mean 'lstm'\?\)"),
]


@pytest.mark.parametrize("argv, pattern", CLI, ids=[" ".join(a)[:40] or "-" for a, _ in CLI])
def test_cli(saved, capsys, argv, pattern):
    argv = [a.format(**saved) for a in argv]
    assert cli.main(argv) == 2
    check_cli_error(capsys.readouterr().err, pattern)


def check_cli_error(err: str, pattern: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err, err
    check_message(errors[0], pattern)


@pytest.mark.parametrize("name, pattern", [
    ("zero.csv", r"zero\.csv is empty \(0 bytes\)"),
    ("latin1.txt", r"latin1\.txt is not UTF-8 text \(byte 0xff at position 2\)"),
    ("header.csv", r"has a header but no rows"),
])
def test_cli_data_files(files, capsys, name, pattern):
    prefix = "text:" if name.endswith(".txt") else "csv:"
    argv = ["train", "--data", prefix + files[name], "--quiet", "--task", "lm"]
    assert cli.main(argv) == 2
    check_cli_error(capsys.readouterr().err, pattern)


def test_cli_non_utf8_config_file(tmp_path, capsys):
    (tmp_path / "train.yaml").write_bytes(b"name: caf\xe9\n")
    assert cli.main(["train", "--config", str(tmp_path / "train.yaml")]) == 2
    check_cli_error(capsys.readouterr().err, r"is not UTF-8 text \(byte 0xe9 at position 9\)")


# -- magics: a real InteractiveShell, one-line UsageError ----------------------------------


MAGICS = [
    ("train", "clf", "epochs: 0", r"epochs must be at least 1, got 0"),
    ("train", "clf", "seed: -1", r"seed must be in 0 <= seed < 2\*\*63"),
    ("train", "clf", "lr: .nan", r"lr must be a finite number, got nan"),
    ("train", "clf", "model: [", r"the cell body is not valid YAML at line 2"),
    ("train", "clf", "lr: 1\nlr: 2", r"duplicate key 'lr' at line 3"),
    ("train", "clf", "seed: !!timestamp x", r"!!timestamp cannot read 'x'"),
    ("train", "clf", "- a", r"'key: value' lines, got a list"),
    ("train", "", "epochs: 1", r"missing NAME for the result"),
    ("line:train", "1abc", None, r"NAME must be a Python variable name"),
    ("line:train", "clf --epochs", None, r"'epochs' must be int, got True"),
    ("line:train", "clf 'oops", None, r"cannot read the magic line"),
    ("line:train", "clf foo", None, r"unexpected 'foo'"),
    ("line:train", "clf data=$nope", None, r"\$nope names no variable in the notebook"),
    ("line:train", "clf --callbacks 5", None, r"callbacks must be registered names.*not int"),
    ("line:train", "clf --data $zero", None, r"zero\.csv is empty \(0 bytes\)"),
    ("line:train", "clf --data $latin --task lm", None, r"is not UTF-8 text \(byte 0xff"),
    ("train", "clf --max-len 1000000000", "task: lm\ntokenizer: char\ndata: $texts",
     r"max_len 1000000000 .*needs about"),
    ("line:predict", "nope hi", None, r"no run named 'nope' in the notebook"),
    ("line:predict", "clf", None, r"nothing to predict"),
    ("line:predict", "five hi", None, r"'five' is a int, not a run"),
    ("line:predict", "clf $nums", None, r"%predict needs texts"),
    ("line:predict", "lm hi", None, r"predict\(\) is for classifiers"),
    ("generate", "clf", "Once upon", r"generate\(\) needs a language model"),
    ("generate", "lm --temperature nan", "x", r"temperature must be a finite number"),
    ("generate", "lm --max-new-tokens 0", "x", r"max_new_tokens must be at least 1"),
    ("generate", "lm --top-k many", "x", r"argument --top-k: invalid int value: 'many'"),
    ("generate", "lm --max-new-tokens 10000000000", "x", r"decode buffers, above the .* cap"),
    ("generate", "nope", "x", r"no run named 'nope'"),
    ("line:jaxtext", "lst", None, r"unknown command 'lst' \(did you mean 'list'\?\)"),
    ("line:jaxtext", "help lstn", None, r"unknown model 'lstn' \(did you mean 'lstm'\?\)"),
    ("line:jaxtext", "list foo", None, r"nothing to list as 'foo'"),
]


@pytest.mark.parametrize("magic, line, body, pattern", MAGICS,
                         ids=[f"{m}-{line}"[:40] for m, line, _, _ in MAGICS])
def test_magic(ip, tiny_run, lm_run, files, magic, line, body, pattern):
    ip.user_ns.update(clf=tiny_run, lm=lm_run, five=5, nums=[1, 2], texts=LM_TEXTS,
                      zero="csv:" + files["zero.csv"], latin="text:" + files["latin1.txt"])
    if magic.startswith("line:"):
        call = lambda: ip.run_line_magic(magic[5:], line)  # noqa: E731
    else:
        call = lambda: ip.run_cell_magic(magic, line, body)  # noqa: E731
    expect(UsageError, pattern, call)


def test_magic_error_prints_one_line_and_no_traceback(ip, capsys):
    result = ip.run_cell("%%train clf\nseed: -1", store_history=False)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("UsageError: seed must be in 0 <= seed")


# -- fuzz: every settings entry point answers with success or one JaxtextError ------------

CORE_KEYS = [f.name for f in Config.__dataclass_fields__.values() if f.name != "model_args"]
MODEL_KEYS = ["dim", "hidden", "layers", "dropout", "ngrams", "ngram_buckets", "context",
              "bidirectional", "pooling", "heads", "mlp_ratio", "tie_weights"]
KEYS = CORE_KEYS + MODEL_KEYS + ["epoch", "callbacks", "", "1x", "x-y"]
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-2**80, 2**80)
           | st.sampled_from([2**63, 2**63 - 1, -2**63 - 1, 10**400, 0, 1, -1])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.binary(max_size=6)
           | st.sampled_from(["mlp", "lstm", "transformer", "lm", "classify", "adamw", "max",
                              "mean", "cls", "yes", "off", "10min", "3 steps", "1.5h", "char"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
FLAGS = ["--" + k.replace("_", "-") for k in KEYS] + [f"{k}=" for k in KEYS] + [
    "--set", "--set=", "--", "=", "--quiet", "--config", "--json=", "-h"]
TOKEN = (st.sampled_from(FLAGS) | st.text(max_size=12)
         | st.sampled_from(["!!int", "!!timestamp x", "!!binary ***", "[", "{a: 1}", "*a",
                            "&a [*a]", "~", "null", ".nan", "-.inf", "0x1f", "1e999", "1_0",
                            "9" * 40, "[1, [2, [3]]]", "a: b", "$x"])
         | st.integers().map(str) | st.floats().map(str)
         | st.tuples(st.sampled_from(KEYS), SCALARS.map(str)).map("=".join))
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def answers(call) -> str:
    """'ok' or 'error' (a JaxtextError of one short line); anything else fails the test."""
    try:
        call()
    except JaxtextError as e:
        message = str(e)
        assert message.count("\n") <= 2 and len(message) < MAX_CHARS, message
        return "error"
    return "ok"


@FUZZ
@given(st.text(max_size=200)
       | st.lists(st.tuples(st.sampled_from(KEYS), TOKEN), max_size=6).map(
           lambda pairs: "\n".join(f"{k}: {v}" for k, v in pairs)))
def test_fuzz_yaml_settings(text):
    answers(lambda: parse_yaml_settings(text))


@FUZZ
@given(st.lists(TOKEN, max_size=8))
def test_fuzz_parse_tokens(tokens):
    answers(lambda: parse_tokens(tokens))


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), VALUES, max_size=6),
       st.sampled_from([None, "mlp", "lstm", "transformer"]),
       st.sampled_from([None, "classify", "lm"]))
def test_fuzz_config_from_dict(values, model, task):
    values = {**values, **({"model": model} if model else {}), **({"task": task} if task else {})}
    answers(lambda: Config.from_dict(values))


@FUZZ
@given(st.text(max_size=40) | st.lists(TOKEN, max_size=6).map(" ".join),
       st.text(max_size=80) | st.lists(st.tuples(st.sampled_from(KEYS), TOKEN), max_size=4).map(
           lambda pairs: "\n".join(f"{k}: {v}" for k, v in pairs)))
def test_fuzz_magic_train_command(line, body):
    answers(lambda: TrainCommand.parse(line, body, {"x": [1, 2], "df": None}))


class _Trained(Exception):
    """Raised by the stand-in for jaxtext.train: the CLI built a config and would train."""


@FUZZ
@given(st.lists(TOKEN, max_size=8))
def test_fuzz_cli_train(tokens):
    seen = []

    def fake_train(config=None, **keys):
        seen.append(config)
        raise _Trained

    real, jaxtext.train = jaxtext.train, fake_train
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as folder:  # --json / --config stay in here
            os.chdir(folder)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli.main(["train", *tokens])
                except _Trained:
                    code = "trained"
    finally:
        os.chdir(cwd)
        jaxtext.train = real
    assert code in (0, 2, "trained"), code
    if code == 2:
        check_cli_error(err.getvalue(), r"^error: ")
    if code == "trained":  # jaxtext.train got settings that make a valid Config
        assert isinstance(Config.from_dict(seen[0]), Config)
