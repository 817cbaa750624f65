"""Several processes, one run (issue 13): ``python -m jaxtext launch`` on localhost CPUs."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import TINY

import jaxtext
from jaxtext.errors import ConfigError
from jaxtext.launch import parse_launch_args

HERE = os.path.dirname(__file__)
FLAGS = ["--model", "mlp", "--data", "rotten_tomatoes", "--epochs", "1",
         *[f"--set={k}={v}" for k, v in TINY.items() if k not in ("model", "data", "epochs")]]


def _jaxtext(*args, devices=1):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    return subprocess.run([sys.executable, "-m", "jaxtext", *args], capture_output=True,
                          text=True, env=env, cwd=HERE, timeout=900)


@pytest.mark.slow
def test_two_processes_train_the_same_model_as_two_devices_of_one(tmp_path):
    launched = _jaxtext("launch", "--processes", "2", "--", "train", *FLAGS, "--quiet",
                        "--out", str(tmp_path / "two-processes"), "--json",
                        str(tmp_path / "two.json"))
    assert launched.returncode == 0, launched.stderr[-3000:]
    single = _jaxtext("train", *FLAGS, "--quiet", "--out", str(tmp_path / "one-process"),
                      devices=2)
    assert single.returncode == 0, single.stderr[-3000:]
    # process 0 alone printed the summary and wrote the run and the JSON
    assert launched.stdout.count("saved to") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one-process", "two-processes",
                                                           "two.json"]
    two, one = jaxtext.load(tmp_path / "two-processes"), jaxtext.load(tmp_path / "one-process")
    report = json.loads((tmp_path / "two.json").read_text())["test"]
    assert {k: report[k] for k in two.test_metrics} == two.test_metrics
    for a, b in zip(jax.tree.leaves(two.model_state.params),
                    jax.tree.leaves(one.model_state.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two.history.loss.dropna().iloc[-1],
                               one.history.loss.dropna().iloc[-1], rtol=1e-5)
    assert two.test_metrics["accuracy"] == pytest.approx(one.test_metrics["accuracy"], abs=2e-3)
    assert two.predict(["a moving, funny film"]).label[0] in two.label_names


@pytest.mark.slow
def test_a_language_model_samples_while_training_over_two_processes(tmp_path):
    out = _jaxtext("launch", "--processes", "2", "--", "train", "--model", "lstm", "--task",
                   "lm", "--data", "rotten_tomatoes", "--tokenizer", "char", "--limit", "300",
                   "--max_len", "32", "--epochs", "1", "--hidden", "32", "--sample_tokens",
                   "20", "--out", str(tmp_path / "lm"))
    assert out.returncode == 0, out.stderr[-3000:]
    run = jaxtext.load(tmp_path / "lm")
    assert run.status == "completed" and len(run.generate("the ", max_new_tokens=5)) > 0


def test_a_failing_process_ends_the_launch_with_its_error(tmp_path):
    out = _jaxtext("launch", "--processes", "2", "--", "train", "--model", "nope")
    assert out.returncode == 2
    assert "unknown model" in out.stderr.lower() or "nope" in out.stderr


@pytest.mark.parametrize(("tokens", "message"), [
    (["--", "train"], "needs --processes N"),
    (["--processes", "two", "--", "train"], "numbers"),
    (["--processes", "2", "--", "predict", "x"], "launch runs `train`"),
    (["--processes", "2"], "not nothing"),
])
def test_bad_launch_arguments_are_one_line(tokens, message):
    with pytest.raises(ConfigError, match=message):
        parse_launch_args(tokens)


def test_launch_arguments():
    assert parse_launch_args(["--processes", "2", "--", "train", "--epochs", "1"]) == \
        (2, None, ["train", "--epochs", "1"])
    assert parse_launch_args(["--processes=3", "--port", "9999", "train"]) == \
        (3, 9999, ["train"])
