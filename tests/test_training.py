"""End-to-end behaviour of the training engine on small real data."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import TINY, Recorder
from flax import nnx

import jaxtext
from jaxtext import events as ev
from jaxtext.registry import models
from jaxtext.training.step_queue import MAX_IN_FLIGHT


def test_classifier_learns_and_reports(tiny_run):
    run = tiny_run
    assert run.status == "completed"
    assert run.test_metrics["accuracy"] > 0.6  # chance is 0.5 on balanced RT
    train = run.history[run.history.kind == "train"]
    assert train.loss.iloc[-1] < train.loss.iloc[0]
    cm = run.confusion_matrix
    assert list(cm.index) == ["negative", "positive"] and cm.values.sum() == 1066
    report = run.evaluate("test")
    assert math.isclose(report["accuracy"], run.test_metrics["accuracy"])
    assert set(report["per_class"].columns) >= {"precision", "recall", "f1", "support"}


def test_predict_returns_labels_and_probabilities(tiny_run):
    frame = tiny_run.predict(["a wonderful, moving film", "dull and lifeless"])
    assert list(frame.columns) == ["text", "label", "negative", "positive"]
    assert np.allclose(frame[["negative", "positive"]].sum(axis=1), 1.0, atol=1e-5)
    assert set(frame.label) <= {"negative", "positive"}


def test_events_arrive_in_order_with_plain_values():
    rec = Recorder()
    jaxtext.train({**TINY, "epochs": 1, "limit": 300}, callbacks=[rec])
    kinds = [type(e).__name__ for e in rec.events if not isinstance(e, ev.Phase)]
    assert kinds[0] == "TrainBegin" and kinds[-1] == "TrainEnd"
    phases = [e.name for e in rec.of(ev.Phase)]  # every phase is announced, the data first
    assert phases[0] == "data" and {"compile", "train", "evaluate"} <= set(phases)
    assert "StepLog" in kinds and "EpochEnd" in kinds
    log = rec.of(ev.StepLog)[0]
    assert isinstance(log.loss, float) and log.examples_per_s > 0 and log.eta_s >= 0
    test = [e for e in rec.of(ev.EvalResult) if e.split == "test"][0]
    assert len(test.confusion_matrix) == 2 and test.per_class[0]["label"] == "negative"
    json.dumps([ev.event_to_dict(e) for e in rec.events])  # all plain, serializable


def test_same_seed_same_run():
    a = jaxtext.train({**TINY, "epochs": 1, "limit": 400}, callbacks=[])
    b = jaxtext.train({**TINY, "epochs": 1, "limit": 400}, callbacks=[])
    assert a.history.loss.tolist() == b.history.loss.tolist()
    for x, y in zip(jax.tree.leaves(a.model_state.params), jax.tree.leaves(b.model_state.params), strict=True):
        np.testing.assert_array_equal(x, y)


def test_save_and_load_are_bit_exact(tiny_run, tmp_path):
    tiny_run.save(tmp_path / "run")
    loaded = jaxtext.load(tmp_path / "run")
    for a, b in zip(jax.tree.leaves(tiny_run.model_state.params), jax.tree.leaves(loaded.model_state.params),
                    strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    for a, b in zip(jax.tree.leaves(tiny_run.opt_state), jax.tree.leaves(loaded.opt_state),
                    strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    text = ["an utterly charming movie"]
    assert loaded.tokenizer.encode(text)[0].tolist() == tiny_run.tokenizer.encode(text)[0].tolist()
    assert loaded.predict(text).equals(tiny_run.predict(text))
    assert loaded.config == tiny_run.config and loaded.test_metrics == tiny_run.test_metrics
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "run").iterdir())


def test_stop_request_keeps_the_model():
    rec = Recorder(stop_at=7)
    run = jaxtext.train({**TINY, "epochs": 3}, callbacks=[rec])
    # on_step(7) comes once step 7 has finished; the steps already queued behind it finish too
    assert run.status == "interrupted" and 7 <= run.steps <= 7 + MAX_IN_FLIGHT
    assert rec.of(ev.Interrupt)[0].reason == "test stop"
    assert rec.of(ev.Interrupt)[0].step == run.steps
    assert rec.of(ev.TrainEnd)[0].status == "interrupted"
    assert len(run.predict(["fine"])) == 1  # weights usable


def test_ctrl_c_stops_at_a_step_boundary():
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    rec = Recorder(sigint_at=5)
    run = jaxtext.train({**TINY, "epochs": 3}, callbacks=[rec])
    assert run.status == "interrupted" and 5 <= run.steps <= 5 + MAX_IN_FLIGHT
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_nan_loss_fails_clearly_and_keeps_last_good_weights():
    with pytest.raises(jaxtext.TrainingError, match="NaN") as info:
        jaxtext.train({**TINY, "epochs": 1, "optimizer": "sgd", "lr": 1e36, "grad_clip": 0.0,
                       "log_every": 2}, callbacks=[])
    run = info.value.run
    assert run is not None and run.status == "failed"
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(run.model_state.params))


def test_early_stopping_restores_the_best_weights():
    rec = Recorder()
    run = jaxtext.train({**TINY, "epochs": 8, "limit": 400, "lr": 0.1, "early_stopping": 1,
                         "monitor": "loss"}, callbacks=[rec])
    assert run.status == "early_stopped"
    best = min(e.validation["loss"] for e in rec.of(ev.EpochEnd))
    assert math.isclose(run.evaluate("validation")["loss"], best, rel_tol=1e-5)


def test_plain_functions_work_as_callbacks():
    """A callback is any function of one event, as documented (a regression: the loop used to
    call ``cb.on_step`` on every callback)."""
    seen = []
    run = jaxtext.train({**TINY, "epochs": 1, "limit": 300}, callbacks=[seen.append,
                                                                       lambda event: None])
    assert run.status == "completed"
    seen = [e for e in seen if not isinstance(e, ev.Phase)]
    assert isinstance(seen[0], ev.TrainBegin) and isinstance(seen[-1], ev.TrainEnd)
    assert any(isinstance(e, ev.StepLog) for e in seen)


@pytest.mark.parametrize("callbacks", [5, [5], ["progress", object()]])
def test_callbacks_that_cannot_be_called_are_one_clear_error(callbacks):
    with pytest.raises(jaxtext.ConfigError, match="callbacks must be") as info:
        jaxtext.train(TINY, callbacks=callbacks)
    assert "\n" not in str(info.value)


class NoDecoder(nnx.Module):
    """A language-model plugin without cached decoding (no init_cache / decode_step)."""

    def __init__(self, config, dims, *, rngs):
        self.embed = nnx.Embed(dims.vocab_size, 8, rngs=rngs)
        self.out = nnx.Linear(8, dims.num_outputs, rngs=rngs)

    def __call__(self, tokens, mask):
        return self.out(self.embed(tokens))


def test_lm_plugin_without_a_decoder_is_told_what_is_missing():
    """A regression: the epoch-end samples called init_cache unguarded and killed training."""
    jaxtext.register_model("no_decoder", NoDecoder)
    try:
        lm = {"model": "no_decoder", "task": "lm", "tokenizer": "char", "max_len": 16,
              "data": ["a small text to model, again and again."] * 40, "epochs": 1}
        with pytest.raises(jaxtext.ConfigError) as info:
            jaxtext.train(lm, callbacks=[])
        message = str(info.value)
        assert "model 'no_decoder' has no init_cache or decode_step" in message
        assert "sample_tokens: 0" in message and "Decoder" in message and "\n" not in message
        run = jaxtext.train({**lm, "sample_tokens": 0}, callbacks=[])
        assert run.status == "completed" and run.test_metrics["loss"] > 0
        with pytest.raises(jaxtext.ConfigError, match="cannot generate"):
            run.generate("a")
    finally:
        models.unregister("no_decoder")


@pytest.mark.parametrize("bad, message", [
    (lambda: None, "must be a class"),
    (type("NoCall", (), {}), "has no __call__"),
    (type("BadConfig", (), {"__call__": lambda self, t, m: t, "Config": int}),
     "Config must be a dataclass"),
])
def test_model_plugins_are_checked_when_registered(bad, message):
    with pytest.raises(jaxtext.ConfigError, match=message):
        jaxtext.register_model("bad_model", bad)
    assert "bad_model" not in models.names()


def test_unknown_key_is_one_clear_error():
    with pytest.raises(jaxtext.ConfigError, match="did you mean 'epochs'"):
        jaxtext.train(model="mlp", epoch=2)
    with pytest.raises(jaxtext.JaxtextError, match="unknown dataset 'imbd'.*did you mean 'imdb'"):
        jaxtext.train(data="imbd", callbacks=[])


def _cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "jaxtext", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


def _tiny_flags():
    skip = {"model", "data"}
    return ["--model", "mlp", "--data", "rotten_tomatoes",
            *[f"--set={k}={v}" for k, v in TINY.items() if k not in skip]]


@pytest.mark.slow
def test_cli_train_json_predict_and_list(tmp_path):
    out = _cli("train", *_tiny_flags(), "--json", str(tmp_path / "m.json"), "--out",
               str(tmp_path / "run"), "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "m.json").read_text())
    for key in ("task", "model", "data", "params"):
        assert key in report
    for key in ("accuracy", "macro_f1", "loss", "confusion_matrix", "per_class"):
        assert key in report["test"]
    for key in ("first_step_s", "train_examples_per_s", "total_s"):
        assert report["timing"][key] > 0
    assert "confusion matrix" in out.stdout
    params = report["params"]  # the model summary: the total and the per-layer table
    assert f"mlp: {params:,} parameters" in out.stdout and "embedding" in out.stdout
    pred = _cli("predict", str(tmp_path / "run"), "a triumph", "a mess")
    assert pred.returncode == 0 and len(pred.stdout.strip().splitlines()) == 2
    listing = _cli("list").stdout
    assert "transformer" in listing and "built-in" in listing and "dashboard" in listing


def test_cli_errors_are_one_line():
    out = _cli("train", "--model", "lstn")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "did you mean 'lstm'" in out.stderr


PLUGIN = '''
from dataclasses import dataclass
from flax import nnx
import jaxtext

@jaxtext.register_model("bag_of_words")
class BagOfWords(nnx.Module):
    @dataclass(frozen=True)
    class Config:
        dim: int = 16

    def __init__(self, config, dims, *, rngs):
        self.embed = nnx.Embed(dims.vocab_size, config.dim, rngs=rngs)
        self.out = nnx.Linear(config.dim, dims.num_outputs, rngs=rngs)

    def __call__(self, tokens, mask):
        m = mask[..., None]
        return self.out((self.embed(tokens) * m).sum(1) / (m.sum(1) + 1e-6))
'''


@pytest.mark.slow
def test_third_party_model_plugin_via_entry_point_and_api(tmp_path):
    (tmp_path / "my_plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[jaxtext.models]\nbag_of_words = my_plugin:BagOfWords\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = _cli("list", env=env).stdout
    assert "bag_of_words" in listing and "plugin (my-plugin)" in listing
    flags = [f for f in _tiny_flags() if not f.startswith(("--set=dim", "--set=ngram"))]
    flags[1] = "bag_of_words"
    out = _cli("train", *flags, "--set=dim=8", "--json", str(tmp_path / "p.json"), "--quiet", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "p.json").read_text())["test"]["accuracy"] > 0.55

    sys.path.insert(0, str(tmp_path))
    try:
        import my_plugin  # noqa: F401  (registers through the decorator)

        cfg = {k: v for k, v in TINY.items() if k not in ("dim", "ngram_buckets")}
        run = jaxtext.train({**cfg, "model": "bag_of_words"}, callbacks=[])
        assert run.test_metrics["accuracy"] > 0.55
    finally:
        sys.path.remove(str(tmp_path))
        from jaxtext.registry import models

        models.unregister("bag_of_words")


MULTI = """
import json, jax, jaxtext
from conftest import TINY
run = jaxtext.train({**TINY, "epochs": 1, "batch_size": 32, "log_every": 5}, callbacks=[])
print(json.dumps({"devices": jax.device_count(), "loss": run.history.loss.dropna().tolist(),
                  "test": run.test_metrics}))
"""


@pytest.mark.slow
def test_two_devices_match_one_device():
    def run_with(devices):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
               "JAX_PLATFORMS": "cpu"}
        out = subprocess.run([sys.executable, "-c", MULTI], capture_output=True, text=True,
                             env=env, cwd=os.path.dirname(__file__), timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    one, two = run_with(1), run_with(2)
    assert one["devices"] == 1 and two["devices"] == 2
    np.testing.assert_allclose(one["loss"], two["loss"], rtol=1e-4, atol=1e-5)
    assert math.isclose(one["test"]["accuracy"], two["test"]["accuracy"], abs_tol=2e-3)
