"""Durable runs: atomic saves (also under SIGKILL), strict loading, checkpoints, resume, init,
and a CLI that never loses the work it did."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import TINY

import jaxtext
from jaxtext import checkpoint, starts
from jaxtext.errors import RunFolderError

HERE = Path(__file__).resolve().parent


def params_of(run) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(run.model_state.params)]


def same_params(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(params_of(a), params_of(b), strict=True))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two different small runs, saved: the 'old' and the 'new' of the save tests."""
    root = tmp_path_factory.mktemp("runs")
    a = jaxtext.train({**TINY, "epochs": 1, "limit": 300}, callbacks=[])
    b = jaxtext.train({**TINY, "epochs": 1, "limit": 300, "seed": 1}, callbacks=[])
    a.save(root / "a")
    b.save(root / "b")
    return root, a, b


# -- atomic saves -------------------------------------------------------------------------

def test_save_over_a_run_replaces_it_whole(two_runs, tmp_path):
    root, a, b = two_runs
    a.save(tmp_path / "run")
    b.save(tmp_path / "run")
    assert same_params(jaxtext.load(tmp_path / "run"), b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary folder left


def test_save_never_writes_through_a_planted_symlink(two_runs, tmp_path):
    root, a, b = two_runs
    a.save(tmp_path / "run")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "run" / "params.msgpack").unlink()
    (tmp_path / "run" / "params.msgpack").symlink_to(victim)
    b.save(tmp_path / "run")
    assert victim.read_text() == "precious"
    assert same_params(jaxtext.load(tmp_path / "run"), b)


@pytest.mark.parametrize("make, message", [
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "is not a jaxtext run"),
    (lambda p: p.write_text("a file"), "is a file"),
    (lambda p: p.symlink_to(p.parent), "symbolic link"),
])
def test_save_refuses_what_is_not_a_run(two_runs, tmp_path, make, message):
    target = tmp_path / "target"
    make(target)
    with pytest.raises(RunFolderError, match=message) as info:
        two_runs[1].save(target)
    assert "\n" not in str(info.value)


KILL_SAVER = """
import sys, jaxtext
run = jaxtext.load(sys.argv[1])
print("SAVING", flush=True)
run.save(sys.argv[2])
print("SAVED", flush=True)
"""


@pytest.mark.slow
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_run(tmp_path):
    """SIGKILL a process saving over an existing run, 24 times at random moments: the folder
    always loads as one of the two runs, bit-exact."""
    big = {**TINY, "epochs": 1, "limit": 200, "vocab_size": 20000, "dim": 192,
           "ngram_buckets": 4096}
    runs = [jaxtext.train({**big, "seed": s}, callbacks=[]) for s in (0, 1)]
    for i, run in enumerate(runs):
        run.save(tmp_path / f"source{i}")
    target = tmp_path / "target"
    runs[0].save(target)
    runs[0].save(tmp_path / "timing")
    timing = subprocess.Popen([sys.executable, "-c", KILL_SAVER, str(tmp_path / "source1"),
                               str(tmp_path / "timing")], stdout=subprocess.PIPE, text=True,
                              cwd=HERE)
    assert timing.stdout.readline().strip() == "SAVING"
    started = time.perf_counter()
    assert timing.stdout.readline().strip() == "SAVED"
    save_s = time.perf_counter() - started  # a save as long as it takes in a fresh process
    timing.wait()
    rng = random.Random(0)
    outcomes = []
    for trial in range(24):
        current = 0 if same_params(jaxtext.load(target), runs[0]) else 1
        child = subprocess.Popen([sys.executable, "-c", KILL_SAVER,
                                  str(tmp_path / f"source{1 - current}"), str(target)],
                                 stdout=subprocess.PIPE, text=True, cwd=HERE)
        assert child.stdout.readline().strip() == "SAVING"
        time.sleep(rng.uniform(0.0, 1.3 * save_s))
        child.send_signal(signal.SIGKILL)
        child.wait()
        loaded = jaxtext.load(target)
        matches = [same_params(loaded, r) for r in runs]
        assert any(matches), f"trial {trial}: the folder is neither run"
        outcomes.append(matches.index(True) != current)
    assert any(outcomes) and not all(outcomes), outcomes  # the kills landed before and after


# -- strict loading -----------------------------------------------------------------------

def _damage(folder: Path, name: str, how: str) -> None:
    path = folder / name
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif how == "garbage":
        path.write_bytes(b"\x00\xffnot what jaxtext wrote")


@pytest.mark.parametrize("name", checkpoint.RUN_FILES)
@pytest.mark.parametrize("how", ["missing", "truncated", "garbage"])
def test_a_damaged_file_is_one_line_naming_it(two_runs, tmp_path, name, how):
    folder = tmp_path / "run"
    two_runs[1].save(folder)
    _damage(folder, name, how)
    with pytest.raises(RunFolderError) as info:
        jaxtext.load(folder)
    message = str(info.value)
    assert name in message and "\n" not in message and len(message) < 300


def test_format_version_is_checked(two_runs, tmp_path):
    folder = tmp_path / "run"
    two_runs[1].save(folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(RunFolderError, match="format 99; this jaxtext reads format 2"):
        jaxtext.load(folder)


def test_loading_nothing_says_so(tmp_path):
    with pytest.raises(RunFolderError, match="no saved run at"):
        jaxtext.load(tmp_path / "nothing")


# -- checkpoints, resume, init ------------------------------------------------------------

CKPT = {**TINY, "epochs": 2, "limit": 640, "batch_size": 32, "dropout": 0.2, "log_every": 4}
STEPS_PER_EPOCH = 20  # 640 examples / 32

RESUMABLE = """
import os, sys, time, jaxtext
from pathlib import Path
from conftest import TINY
settings = {CKPT}
out, kill_at, wait_for = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[1]) / sys.argv[3]

class KillAfterCheckpoint(jaxtext.Callback):
    def on_step(self, step):
        if step >= kill_at:
            deadline = time.time() + 60
            while not (wait_for / "resume.json").exists() and time.time() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), 9)

jaxtext.train({{**settings, "out": str(out), "checkpoint_every": {every}}},
              callbacks=[KillAfterCheckpoint()])
"""


@pytest.mark.slow
def test_resume_after_kill_9_is_bit_identical_to_a_straight_run(tmp_path):
    straight = jaxtext.train(CKPT, callbacks=[])
    total = straight.steps
    assert total == 2 * STEPS_PER_EPOCH
    every = total // 2 + 5  # mid epoch 2: the resumed epoch skips what it already did
    script = RESUMABLE.format(CKPT=CKPT, every=every)
    out = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", script, str(out), str(every + 3),
                            f"checkpoints/step-{every:08d}"], cwd=HERE, capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not (out / "meta.json").exists()  # killed: no final save, only the checkpoint
    with pytest.raises(RunFolderError, match="only checkpoints"):
        jaxtext.load(out)

    resumed = jaxtext.train(resume=str(out), callbacks=[])
    assert resumed.status == "completed" and resumed.steps == total
    assert same_params(resumed, straight)
    assert resumed.test_metrics == straight.test_metrics
    assert resumed.saved_to == out and same_params(jaxtext.load(out), straight)
    # the history runs on from the checkpoint: every log of the straight run is there
    assert resumed.history.step.tolist() == straight.history.step.tolist()


@pytest.mark.slow
def test_checkpoints_keep_the_newest_and_the_best_and_load_as_runs(tmp_path):
    out = tmp_path / "run"
    run = jaxtext.train({**CKPT, "out": str(out), "checkpoint_every": 6, "keep_checkpoints": 2},
                        callbacks=[])
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best", "step-00000030", "step-00000036"], names  # every 6 of 40 steps
    latest = jaxtext.load(checkpoint.latest_checkpoint(out))
    assert latest.status == "checkpoint" and latest.steps == int(names[-1].split("-")[1])
    best = jaxtext.load(out / "checkpoints" / "best")
    assert len(best.predict(["fine"])) == 1
    assert run.saved_to == out and jaxtext.load(out).status == "completed"
    with pytest.raises(jaxtext.ConfigError, match="finished.*init: "):
        jaxtext.train(resume=str(out), callbacks=[])


def test_resume_refuses_changes_to_what_it_computes(tmp_path):
    out = tmp_path / "run"
    jaxtext.train({**TINY, "epochs": 1, "limit": 300, "out": str(out), "checkpoint_every": 3},
                  callbacks=[_stop_at(5)])
    with pytest.raises(jaxtext.ConfigError, match="drop lr") as info:
        jaxtext.train(resume=str(out), lr=0.5, callbacks=[])
    assert "init: " in str(info.value)
    run = jaxtext.train(resume=str(out), log_every=7, callbacks=[])  # allowed: display only
    assert run.status == "completed"


def test_init_starts_a_new_schedule_from_the_weights(tiny_run):
    a = tiny_run  # 3 epochs of TINY
    fresh = jaxtext.train({**TINY, "epochs": 1, "seed": 5}, callbacks=[])
    more = jaxtext.train(init=a, epochs=1, seed=5, callbacks=[])
    assert more.steps == a.steps // 3  # one whole new epoch, with its own schedule
    assert more.config.lr == a.config.lr and more.config.init == a.name
    # it starts where `a` ended, not from scratch: its first logged loss is far lower
    assert more.history.loss.iloc[0] < fresh.history.loss.iloc[0] - 0.05
    with pytest.raises(jaxtext.ConfigError, match="keep its model keys"):
        jaxtext.train(init=a, dim=32, callbacks=[])
    with pytest.raises(jaxtext.ConfigError, match="init must be a Run or a run folder"):
        jaxtext.train(init=5, callbacks=[])


def _stop_at(step):
    class Stop(jaxtext.Callback):
        def on_step(self, done):
            if done >= step:
                self.control.request_stop("test stop")

    return Stop()


# -- the CLI and `out` never lose work ----------------------------------------------------

def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "jaxtext", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=HERE)


def _flags(settings):
    return [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]


def test_cli_checks_out_and_json_before_loading_any_data(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    started = time.perf_counter()
    out = _cli("train", *_flags(TINY), "--out", str(blocker / "run"), "--quiet")
    assert out.returncode == 2 and time.perf_counter() - started < 20
    assert out.stderr.startswith("error: cannot write to") and out.stderr.count("\n") == 1
    out = _cli("train", *_flags(TINY), "--json", str(blocker / "m.json"), "--quiet")
    assert out.returncode == 2 and "cannot write --json" in out.stderr


def test_an_interrupted_run_never_replaces_a_finished_one(tmp_path):
    out = tmp_path / "run"
    done = jaxtext.train({**TINY, "epochs": 1, "limit": 300, "out": str(out)}, callbacks=[])
    with pytest.warns(RuntimeWarning, match="holds a finished run"):
        stopped = jaxtext.train({**TINY, "epochs": 1, "limit": 300, "out": str(out),
                                 "seed": 3}, callbacks=[_stop_at(2)])
    assert stopped.status == "interrupted"
    assert stopped.saved_to == tmp_path / "run-interrupted"
    assert same_params(jaxtext.load(out), done)
    assert same_params(jaxtext.load(tmp_path / "run-interrupted"), stopped)
    again = jaxtext.train({**TINY, "epochs": 1, "limit": 300, "out": str(out), "seed": 3,
                           "overwrite": True}, callbacks=[_stop_at(2)])
    assert again.saved_to == out and jaxtext.load(out).status == "interrupted"


def test_a_diverged_run_is_saved_with_its_last_good_weights(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(jaxtext.TrainingError, match="NaN") as info:
        jaxtext.train({**TINY, "epochs": 1, "optimizer": "sgd", "lr": 1e36, "grad_clip": 0.0,
                       "log_every": 2, "out": str(out)}, callbacks=[])
    assert info.value.run.saved_to == out
    loaded = jaxtext.load(out)
    assert loaded.status == "failed" and all(np.isfinite(p).all() for p in params_of(loaded))


def test_a_save_that_fails_goes_to_a_rescue_folder(tmp_path, monkeypatch):
    real = starts.write_run
    out = tmp_path / "run"

    def flaky(target, trained, extra=None):
        if Path(target) == out:
            raise OSError(28, "No space left on device")
        return real(target, trained, extra)

    monkeypatch.setattr(starts, "write_run", flaky)
    with pytest.warns(RuntimeWarning, match="could not save to .*No space left.*saved in"):
        run = jaxtext.train({**TINY, "epochs": 1, "limit": 300, "out": str(out)}, callbacks=[])
    assert run.saved_to != out and "jaxtext-rescued-run" in run.saved_to.name
    assert same_params(jaxtext.load(run.saved_to), run)


@pytest.mark.slow
def test_cli_resume_and_init(tmp_path):
    out = tmp_path / "run"
    first = _cli("train", *_flags({**TINY, "epochs": 1, "limit": 300}), "--out", str(out),
                 "--checkpoint-every", "3", "--quiet")
    assert first.returncode == 0, first.stderr
    assert f"saved to {out}" in first.stdout
    refused = _cli("train", "--resume", str(out), "--quiet")
    assert refused.returncode == 2 and "init:" in refused.stderr
    more = _cli("train", "--init", str(out), "--epochs", "1", "--out", str(tmp_path / "more"),
                "--quiet", "--json", str(tmp_path / "m.json"))
    assert more.returncode == 0, more.stderr
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["status"] == "completed" and report["config"]["init"] == str(out)
    assert report["config"]["epochs"] == 1 and report["config"]["out"] == str(tmp_path / "more")
    assert jaxtext.load(tmp_path / "more").status == "completed"
