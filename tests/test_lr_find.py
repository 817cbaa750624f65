"""The LR finder: pure curve numbers, a real sweep on a tiny model (compiled once, diverging at
high rates), ``lr: suggested``, stops and Ctrl-C, fresh starts. Its views, magics and CLI:
``test_lr_find_views.py``."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from conftest import Recorder

import jaxtext
from jaxtext import events as ev
from jaxtext.lr_finder import (
    DIVERGE_FACTOR,
    RULE,
    LRFinderResult,
    check_sweep,
    smooth_losses,
    suggest_rate,
    sweep_rates,
)
from jaxtext.training import steps as compiled_steps
from jaxtext.training.lr_sweep import IN_FLIGHT

# Small and quick: rotten_tomatoes' reviews are short, so its batches come in several bucket
# widths (the sweep must still compile one step).
SMALL = dict(model="mlp", data="rotten_tomatoes", limit=1000, epochs=1, batch_size=32,
             vocab_size=4000, max_len=48, dim=16, ngram_buckets=4096)
SWEEP = dict(start_lr=1e-5, end_lr=100.0, steps=40)




def _sweep_step_compiles() -> list[int]:
    return [fn._cache_size() for key, fn in compiled_steps._CACHE.items() if key[0] == "lr_sweep"]


@pytest.fixture(scope="module")
def swept():
    rec = Recorder()
    return jaxtext.lr_find(SMALL, callbacks=[rec], **SWEEP), rec


# -- the curve's numbers (pure) ----------------------------------------------------------


def test_rates_are_geometric_from_start_to_end():
    rates = sweep_rates(1e-7, 10.0, 100)
    assert rates[0] == pytest.approx(1e-7) and rates[-1] == pytest.approx(10.0)
    ratios = rates[1:] / rates[:-1]
    assert np.allclose(ratios, ratios[0])


def test_smoothing_is_a_debiased_moving_average():
    assert smooth_losses([3.0] * 5).tolist() == pytest.approx([3.0] * 5)  # no pull toward 0
    values = smooth_losses([1.0, 0.0], beta=0.5)
    assert values.tolist() == pytest.approx([1.0, 0.5 * 0.5 / 0.75])


def test_suggestion_is_a_tenth_of_the_minimum_and_inside_the_range():
    assert suggest_rate([1e-4, 1e-3, 1e-2, 1e-1], [1.0, 0.8, 0.5, 3.0]) == pytest.approx(1e-3)
    assert suggest_rate([1e-4, 1e-3], [0.5, 0.9]) == pytest.approx(1e-4)  # never below the start
    assert suggest_rate([], []) is None


@pytest.mark.parametrize("start, end, steps, message", [
    (1.0, 0.1, 50, r"start_lr \(1\) must be below end_lr \(0.1\)"),
    (1e-3, 1e-3, 50, "must be below end_lr"),
    (1e-7, 10, 4, "steps must be a whole number from 5"),
    (1e-7, 10, 5.5, "steps must be a whole number"),
    (1e-7, 10, True, "steps must be a whole number"),
    (1e-7, 10, 10**6, "steps must be a whole number from 5 to 10,000"),
    (0, 10, 50, "start_lr must be a positive number"),
    (1e-7, float("nan"), 50, "end_lr must be a positive number"),
    ("tiny", 10, 50, "start_lr must be a positive number such as 1e-07, not 'tiny'"),
])
def test_bad_sweeps_are_one_line_errors(start, end, steps, message):
    with pytest.raises(jaxtext.ConfigError, match=message) as info:
        check_sweep(start, end, steps)
    assert "\n" not in str(info.value)


def test_bad_input_fails_before_any_work():
    with pytest.raises(jaxtext.ConfigError, match="steps must be"):
        jaxtext.lr_find(SMALL, steps=2, callbacks=[])
    with pytest.raises(jaxtext.ConfigError, match="remove resume"):
        jaxtext.lr_find(SMALL, resume="runs/x", callbacks=[])
    with pytest.raises(jaxtext.ConfigError, match="did you mean 'epochs'"):
        jaxtext.lr_find(SMALL, epoch=2, callbacks=[])
    with pytest.raises(jaxtext.ConfigError, match="lr must be a number or 'suggested'.*did you"):
        jaxtext.train(SMALL, lr="sugested", callbacks=[])


# -- a real sweep ------------------------------------------------------------------------


def test_sweep_is_compiled_once_for_every_rate_and_bucket(swept):
    finder, _ = swept
    assert len(finder.lrs) > 20
    assert _sweep_step_compiles() == [1]
    # another range and length of sweep over the same run: the same compiled step
    jaxtext.lr_find(SMALL, start_lr=1e-3, end_lr=1.0, steps=12, callbacks=[])
    assert _sweep_step_compiles() == [1]


def test_losses_are_finite_then_diverge_at_high_rates(swept):
    finder, _ = swept
    assert isinstance(finder, LRFinderResult) and finder.status == "diverged"
    assert np.isfinite(finder.losses).all() and len(finder.lrs) < SWEEP["steps"]
    assert finder.losses[0] == pytest.approx(np.log(2), abs=0.05)  # two classes, fresh model
    assert finder.smoothed[-1] > DIVERGE_FACTOR * finder.smoothed.min()
    assert (finder.smoothed[:-1] <= DIVERGE_FACTOR * finder.smoothed.min()).all()
    assert finder.smoothed.tolist() == pytest.approx(smooth_losses(finder.losses).tolist())
    assert finder.lrs.tolist() == pytest.approx(sweep_rates(**SWEEP)[:len(finder.lrs)].tolist())


def test_suggested_rate_is_in_range_and_below_the_divergence(swept):
    finder, _ = swept
    assert SWEEP["start_lr"] <= finder.suggested <= SWEEP["end_lr"]
    assert finder.suggested < finder.lrs[-1]  # the rate where it diverged
    assert finder.suggested == pytest.approx(finder.lrs[np.argmin(finder.smoothed)] / 10)
    assert finder.rule == RULE


def test_events_tell_the_whole_sweep(swept):
    finder, rec = swept
    kinds = [type(e).__name__ for e in rec.events if not isinstance(e, ev.Phase)]
    assert kinds == ["LRFindBegin"] + ["LRFindStep"] * len(finder.lrs) + ["LRFindEnd"]
    begin, end = rec.of(ev.LRFindBegin)[0], rec.of(ev.LRFindEnd)[0]
    assert (begin.start_lr, begin.end_lr, begin.steps, begin.rule) == (1e-5, 100.0, 40, RULE)
    assert end.status == "diverged" and end.suggested == finder.suggested
    assert [e.loss for e in rec.of(ev.LRFindStep)] == finder.losses.tolist()
    assert any(p.name == "compile" and p.took_s > 0 for p in rec.of(ev.Phase))
    for event in rec.events:  # plain values: they survive a JSON round trip
        assert ev.event_from_dict(json.loads(json.dumps(ev.event_to_dict(event)))) == event


def test_terminal_progress_shows_the_sweep_and_the_suggestion(swept):
    import io

    from jaxtext.callbacks import TerminalProgress

    finder, rec = swept
    out = io.StringIO()
    view = TerminalProgress(file=out)
    for event in rec.events:
        view(event)
    text = out.getvalue()
    assert "LR finder: mlp on rotten_tomatoes, lr 1e-05 -> 100 over at most 40 steps" in text
    assert f"LR finder diverged after {len(finder.lrs)} steps" in text
    assert text.rstrip().endswith(f"suggested lr {finder.suggested:.3g}")


def test_result_views(swept):
    finder, _ = swept
    frame = finder.frame()
    assert list(frame.columns) == ["step", "lr", "loss", "smoothed"]
    assert len(frame) == len(finder.lrs) and frame["step"].iloc[-1] == len(finder.lrs)
    table = finder.table()
    assert "lowest smoothed loss" in table and len(table.splitlines()) <= 14
    assert f"suggested lr {finder.suggested:.3g}" in repr(finder) and RULE in repr(finder)


def test_each_sweep_starts_fresh_and_leaves_training_alone(swept, tmp_path, monkeypatch):
    finder, _ = swept
    monkeypatch.chdir(tmp_path)  # checkpointing would make runs/...: the sweep must not
    again = jaxtext.lr_find(SMALL, callbacks=[], out=str(tmp_path / "out"), checkpoint_every=5,
                            **SWEEP)
    assert again.losses.tolist() == finder.losses.tolist()  # same init, data and seed
    assert list(tmp_path.iterdir()) == []


def test_sweep_from_a_runs_weights_leaves_the_run_intact():
    run = jaxtext.train(SMALL, callbacks=[])
    before = run.predict(["a fine film"])
    finder = jaxtext.lr_find(init=run, steps=8, callbacks=[])  # the run's config and weights
    assert finder.config.model == "mlp" and len(finder.lrs) == 8
    assert finder.losses[0] < 0.69  # it starts from trained weights, not a fresh model
    assert run.predict(["a fine film"]).equals(before)  # the donated step got a copy


@pytest.mark.slow
def test_training_after_a_sweep_is_unchanged():
    before = jaxtext.train(SMALL, callbacks=[])
    jaxtext.lr_find(SMALL, callbacks=[], **SWEEP)
    after = jaxtext.train(SMALL, callbacks=[])
    assert after.history["loss"].tolist() == before.history["loss"].tolist()
    assert after.test_metrics == before.test_metrics


def test_lr_suggested_trains_with_the_finders_rate(swept):
    finder = jaxtext.lr_find(SMALL, callbacks=[])  # the default sweep, as lr: suggested runs
    run = jaxtext.train(SMALL, lr="suggested", log_every=1, callbacks=[])
    assert run.config.lr == finder.suggested and run.config.to_dict()["lr"] == finder.suggested
    assert run.history["lr"].max() == pytest.approx(finder.suggested, rel=0.05)  # peak rate
    assert run.status == "completed"


def test_stop_returns_the_curve_so_far():
    rec = Recorder(stop_at=6)
    finder = jaxtext.lr_find(SMALL, callbacks=[rec], **SWEEP)
    assert finder.status == "interrupted" and finder.message == "test stop"
    assert 6 <= len(finder.lrs) <= 6 + IN_FLIGHT + 1
    assert finder.suggested is not None and rec.of(ev.LRFindEnd)[0].status == "interrupted"


def test_ctrl_c_stops_the_sweep_like_training():
    before = signal.getsignal(signal.SIGINT)
    finder = jaxtext.lr_find(SMALL, callbacks=[Recorder(sigint_at=5)], **SWEEP)
    assert finder.status == "interrupted" and 5 <= len(finder.lrs) <= 5 + IN_FLIGHT + 1
    assert signal.getsignal(signal.SIGINT) is before


def test_language_models_sweep_too():
    finder = jaxtext.lr_find(task="lm", model="lstm", tokenizer="char", data="rotten_tomatoes",
                             limit=300, max_len=32, batch_size=16, callbacks=[], **SWEEP)
    assert finder.status == "diverged" and np.isfinite(finder.losses).all()
    assert finder.losses[0] > 3  # next-character entropy of a fresh model: ~ln(vocabulary)
    assert SWEEP["start_lr"] <= finder.suggested < finder.lrs[-1]
    lm_steps = [fn._cache_size() for key, fn in compiled_steps._CACHE.items()
                if key[0] == "lr_sweep" and key[3] == "lm"]
    assert lm_steps == [1]
