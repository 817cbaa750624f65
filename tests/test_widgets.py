"""The dashboard without a browser: chart specs, HTML fragments, widget values, throttling, the
Stop button (also inside a real kernel while a cell is busy), and real training runs (slow)."""

from __future__ import annotations

import json
import math
import time

import pytest

from jaxtext import History, display
from jaxtext import events as ev
from jaxtext.callbacks import Callback, TrainingControl
from jaxtext.training.step_queue import MAX_IN_FLIGHT
from jaxtext.widgets import Dashboard, charts, report
from jaxtext.widgets.dashboard import STOP_REASON
from jaxtext.widgets.panels import PANELS
from jaxtext.widgets.summary import png_width, run_summary_html, summary_html, summary_png

LABELS = ["neg", "pos"]


def synthetic_events(task="classify", epochs=3, steps_per_epoch=40, log_every=10):
    """A plausible event stream, as the trainer emits it; ("step", n) stands for on_step(n)."""
    lm = task == "lm"
    total = epochs * steps_per_epoch
    yield ev.TrainBegin(
        run_name=f"synthetic-{task}", task=task, model="mlp", data="synthetic", config={},
        num_params=123_456, devices=["cpu:0"],
        dataset_sizes={"train": 1000, "validation": 200, "test": 200},
        label_names=[] if lm else LABELS, epochs=epochs, steps_per_epoch=steps_per_epoch,
        total_steps=total, batch_size=25)
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            yield ("step", step)
            if step % log_every == 0:
                loss = 0.7 * math.exp(-step / total) + 0.01 * (step % 3)
                yield ev.StepLog(step=step, epoch=epoch, total_steps=total,
                                 examples_seen=step * 25, examples_per_s=2500.0,
                                 elapsed_s=step * 0.01, eta_s=(total - step) * 0.01,
                                 lr=1e-3 * (1 - step / total), loss=loss,
                                 accuracy=None if lm else 1 - loss)
        if lm:
            metrics = {"loss": 2.0 - 0.2 * epoch, "perplexity": math.exp(2.0 - 0.2 * epoch),
                       "bits_per_char": 2.5 - 0.2 * epoch}
            yield ev.EvalResult(split="validation", epoch=epoch, step=step, metrics=metrics)
        else:
            metrics = {"loss": 0.6 - 0.05 * epoch, "accuracy": 0.7 + 0.05 * epoch,
                       "macro_f1": 0.69 + 0.05 * epoch}
            yield ev.EvalResult(
                split="validation", epoch=epoch, step=step, metrics=metrics, label_names=LABELS,
                confusion_matrix=[[30 + epoch, 10], [7, 40 + epoch]],
                per_class=[{"label": lab, "precision": 0.8, "recall": 0.75, "f1": 0.77,
                            "support": 50} for lab in LABELS],
                examples=[{"text": "<script>alert(1)</script> not bad", "label": "pos",
                           "predicted": "neg", "probs": {"neg": 0.9, "pos": 0.1}}])
        yield ev.EpochEnd(epoch=epoch, step=step, elapsed_s=step * 0.01,
                          train={"loss": 0.5} if lm else {"loss": 0.5, "accuracy": 0.8},
                          validation=metrics, is_best=True)
        if lm:
            tokens = [(" the", 0.9), (" cat", 0.3), (" <b>", 0.02)]
            yield ev.Samples(epoch=epoch, step=step, prompt="Once", samples=[" the cat <b>"],
                             token_probs=[tokens])
    yield ev.TrainEnd(step=step, elapsed_s=step * 0.01, status="completed", message="",
                      test=None if lm else {"accuracy": 0.85})


def drive(callback, events):
    for event in events:
        if isinstance(event, tuple):
            callback.on_step(event[1])
        else:
            callback(event)


def history_of(events) -> History:
    h = History()
    for event in events:
        if not isinstance(event, tuple):
            h.update(event)
    return h


def layer_values(spec) -> list[dict]:
    """All inline data rows of a Vega-Lite spec: ``data.values`` anywhere, and ``datasets``."""
    rows = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "values" and isinstance(value, list) and all(
                    isinstance(v, dict) for v in value):  # data, not an axis's tick values
                rows += value
            elif key == "datasets":
                rows += [row for values in value.values() for row in values]
            else:
                rows += layer_values(value)
    elif isinstance(spec, list):
        for item in spec:
            rows += layer_values(item)
    return rows


# ---------------------------------------------------------------------------------- charts


def test_ema_and_thin():
    assert charts.ema([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # debiased
    assert charts.ema([3.0, 1.0], smoothing=0.0) == [3.0, 1.0]
    kept = charts.thin(list(range(1001)), 100)
    assert len(kept) <= 100 and kept[0] == 0 and kept[-1] == 1000


def test_loss_chart_has_train_smoothed_and_validation_series():
    h = history_of(synthetic_events())
    spec = charts.loss_chart(h.rows).to_dict()
    rows = layer_values(spec)
    train = [r for r in rows if r["series"] == "train"]
    assert [r["loss"] for r in train] == [r["loss"] for r in h.rows if r["kind"] == "train"]
    assert len([r for r in rows if r["series"] == "train (smoothed)"]) == len(train)
    val = [r for r in rows if r["series"] == "validation"]
    assert [r["step"] for r in val] == [40, 80, 120]
    assert [r["loss"] for r in val] == pytest.approx([0.55, 0.5, 0.45])


def test_metrics_chart_facets_validation_and_train_metrics_but_not_loss():
    spec = charts.metrics_chart(history_of(synthetic_events()).rows).to_dict()
    rows = layer_values(spec)
    assert {r["metric"] for r in rows} == {"accuracy", "macro_f1"}
    assert {(r["split"], r["epoch"]) for r in rows if r["metric"] == "accuracy"} == {
        (s, e) for s in ("validation", "train") for e in (1, 2, 3)}
    assert spec["facet"]["column"]["field"] == "metric"


def test_lm_metrics_and_empty_placeholders():
    h = history_of(synthetic_events("lm"))
    metrics = {r["metric"] for r in layer_values(charts.metrics_chart(h.rows).to_dict())}
    assert metrics == {"perplexity", "bits_per_char"}
    for chart in (charts.loss_chart([]), charts.metrics_chart([]), charts.lr_chart([])):
        assert "message" in layer_values(chart.to_dict())[0]


def test_confusion_chart_counts_and_row_rates():
    spec = charts.confusion_chart([[8, 2], [1, 9]], LABELS).to_dict()
    cells = {(r["true"], r["predicted"]): (r["count"], r["rate"]) for r in layer_values(spec)}
    assert cells == {("neg", "neg"): (8, 0.8), ("neg", "pos"): (2, 0.2),
                     ("pos", "neg"): (1, 0.1), ("pos", "pos"): (9, 0.9)}
    assert charts.confusion_rows([[0, 0]], ["a", "b"])[0]["rate"] == 0.0  # empty row


def test_svg_is_small_even_for_long_runs():
    rows = [{"kind": "train", "step": i, "epoch": 1, "loss": 1 / (i + 1), "lr": 1e-3}
            for i in range(5000)]
    start = time.perf_counter()
    svg = charts.to_svg(charts.loss_chart(rows))
    assert svg.startswith("<svg") and len(svg) < 80_000, len(svg)
    assert time.perf_counter() - start < 10


def test_summary_charts_render_offline():
    h = history_of(synthetic_events())
    charts_drawn = [p.draw(h, p.title) for p in PANELS if p.kind == "chart"]
    spec = json.dumps([c.to_dict() for c in charts_drawn if c is not None])
    assert '"loss"' in spec and '"learning rate"' in spec and "confusion matrix" in spec
    assert "confusion matrix (test" not in spec  # no test evaluation in this stream
    png = summary_png(h)
    assert png.startswith(b"\x89PNG") and len(png) < 100_000
    assert png_width(png) > 1600  # loss, lr and validation side by side, at scale 2
    html = summary_html(h, png)
    assert "data:image/png;base64," in html and "<svg" not in html


# ---------------------------------------------------------------------------------- html


def test_report_fragments_escape_user_text():
    html = report.misclassified_html([{"text": "<script>x</script>", "label": 1, "predicted": 0,
                                       "probs": [0.7, 0.3]}], LABELS)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "neg 0.70" in html and "<b>neg</b>" in html  # int labels mapped to names
    sample = display.sample_html("<p>", "", [("<b>", 0.25)])
    assert "<b>&lt;b&gt;</b>" not in sample and "&lt;b&gt;" in sample
    assert 'title="p=0.250"' in sample and "hsl(30,70%,82%)" in sample


def test_per_class_table_has_macro_average():
    html = report.per_class_html([
        {"label": "a", "precision": 1.0, "recall": 0.5, "f1": 0.6, "support": 3},
        {"label": "b", "precision": 0.5, "recall": 1.0, "f1": 0.8, "support": 1}])
    assert "macro avg" in html and "0.750" in html and "0.700" in html and "<i>4</i>" in html


# ---------------------------------------------------------------------------------- dashboard


def test_dashboard_constructs_outside_a_notebook():
    dash = Dashboard()
    assert dash.widget is None and dash.summary_html == ""
    dash.on_step(1)  # before on_train_begin: a no-op, not a crash
    dash(ev.TrainEnd(step=0, elapsed_s=0.0, status="failed", message="", test=None))


def test_dashboard_values_after_a_classifier_run():
    dash = Dashboard(display=False)
    drive(dash, synthetic_events())
    w = dash.w
    assert (w["progress"].value, w["progress"].max, w["progress"].bar_style) == (120, 120,
                                                                                  "success")
    assert "epoch 3/3 · step 120/120 · 2,500 ex/s" in w["status"].value
    assert "ETA 0:00" in w["status"].value
    assert "synthetic-classify" in w["header"].value and "123K parameters" in w["header"].value
    for slot in ("loss", "validation", "lr", "confusion"):
        assert w[slot].value.startswith("<svg"), slot
    assert "confusion matrix (test" not in w["confusion"].value  # no test report emitted
    assert ">43<" in w["confusion"].value  # the last validation matrix [[33, 10], [7, 43]]
    assert "macro avg" in w["per_class"].value
    assert "&lt;script&gt;" in w["examples"].value and w["examples"].layout.display == ""
    assert "samples" not in w and dash.rows["classes"].layout.display != "none"
    assert "completed" in w["message"].value and "accuracy 0.85" in w["message"].value
    assert w["stop"].layout.display == "none"
    assert "data:image/png" in dash.summary_html and "completed" in dash.summary_html
    assert dash.errors == []


def test_a_broken_view_warns_once_and_never_stops_training(monkeypatch):
    dash = Dashboard(display=False)
    monkeypatch.setattr(report, "status_text", lambda **kw: 1 / 0)
    with pytest.warns(RuntimeWarning, match="ZeroDivisionError"):
        drive(dash, synthetic_events(epochs=1))
    assert dash.errors and all("ZeroDivisionError" in e for e in dash.errors)


def test_dashboard_language_model_samples():
    dash = Dashboard(display=False)
    drive(dash, synthetic_events("lm"))
    w = dash.w
    assert "classes" not in dash.rows and w["samples"].layout.display == ""
    assert "samples at step 120 (epoch 3)" in w["samples"].value
    assert 'title="p=0.020"' in w["samples"].value and "&lt;b&gt;" in w["samples"].value
    assert "<details><summary>step 80 (epoch 2)" in w["samples"].value
    assert "perplexity" in w["validation"].value
    assert dash.errors == []


def test_on_step_is_cheap_and_throttled(monkeypatch):
    dash = Dashboard(display=False, update_every=0.25)
    events = list(synthetic_events(epochs=1, steps_per_epoch=10))
    dash(events[0])
    refreshes = []
    original = dash._refresh
    monkeypatch.setattr(dash, "_refresh", lambda now, **kw: (refreshes.append(now),
                                                            original(now, **kw)))
    dash._next_update = time.monotonic() + 0.25
    start = time.perf_counter()
    for step in range(1, 100_001):
        dash.on_step(step)
    per_call = (time.perf_counter() - start) / 100_000
    assert per_call < 5e-6, f"on_step costs {per_call * 1e6:.1f} µs"
    elapsed = time.perf_counter() - start
    assert len(refreshes) <= elapsed / 0.25 + 1


def test_stop_button_requests_a_stop():
    dash = Dashboard(display=False)
    dash.control = TrainingControl()
    dash(next(iter(synthetic_events())))
    assert dash.stop_route is None  # no kernel here: the tooltip points to the interrupt
    assert "interrupt the kernel" in dash.w["stop"].tooltip
    dash.w["stop"].click()
    assert dash.control.stop_requested and dash.control.reason == STOP_REASON
    assert dash.w["stop"].disabled and dash.w["stop"].description == "Stopping…"


def test_run_summary_html_from_a_run_like_object():
    h = history_of(synthetic_events())

    class FakeRun:
        record = h

    html = run_summary_html(FakeRun())
    assert "data:image/png" in html and "synthetic-classify" in html and "per class" in html \
        and "completed" in html


# ---------------------------------------------------------------------------------- kernel

KERNEL_SETUP = """
import time
from jaxtext import events as ev
from jaxtext.callbacks import TrainingControl
from jaxtext.widgets import Dashboard
dash = Dashboard(display=True)
dash.control = TrainingControl()
dash(ev.TrainBegin(run_name="k", task="classify", model="mlp", data="x",
    config={}, num_params=1, devices=["cpu"], dataset_sizes={"train": 1}, label_names=["a", "b"],
    epochs=1, steps_per_epoch=10**9, total_steps=10**9, batch_size=1))
print("STOP", dash.w["stop"].model_id, dash.stop_route is not None)
"""

KERNEL_BUSY = """
t0 = time.time(); step = 0
while not dash.control.stop_requested and time.time() - t0 < 30:
    step += 1
    dash.on_step(step)
    sum(range(2000))  # a busy cell: the main thread never yields to the kernel
print("STOPPED", dash.control.stop_requested, repr(dash.control.reason), round(time.time() - t0, 2))
"""


@pytest.mark.slow  # starts a kernel (~5-20 s on 2 shared cores)
def test_stop_button_works_while_the_cell_is_busy_in_a_real_kernel():
    """The front end's click (a comm message) reaches the handler during a busy cell."""
    ipykernel = pytest.importorskip("ipykernel")
    if int(ipykernel.__version__.split(".")[0]) < 7:
        pytest.skip("kernel subshells need ipykernel >= 7")
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        out: list[str] = []

        def collect(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        kc.execute_interactive(KERNEL_SETUP, timeout=120, output_hook=collect)
        text = "".join(out)
        assert "STOP" in text, text
        comm_id, routed = text.split("STOP", 1)[1].split()[:2]
        assert routed == "True", "no subshell routing in this kernel"
        out.clear()
        busy_id = kc.execute(KERNEL_BUSY)
        time.sleep(1.0)  # the cell is now busy
        clicked = time.monotonic()
        kc.shell_channel.send(kc.session.msg("comm_msg", {
            "comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}))
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != busy_id:
                continue
            collect(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        latency = time.monotonic() - clicked
        text = "".join(out)
        assert f"STOPPED True '{STOP_REASON}'" in text, text
        assert latency < 5, f"the stop took {latency:.1f} s"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# ---------------------------------------------------------------------------------- real runs


class _StopAt(Callback):
    """Clicks the dashboard's Stop button from the loop, as a user would mid-run."""

    def __init__(self, dash: Dashboard, step: int):
        self.dash, self.step = dash, step

    def on_step(self, step: int) -> None:
        if self.step is not None and step >= self.step:  # the finished count may jump
            self.step = None
            self.dash.w["stop"].click()


@pytest.mark.slow
def test_real_classifier_run_fills_the_dashboard():
    import jaxtext

    dash = Dashboard(display=False)
    run = jaxtext.train(model="mlp", data="rotten_tomatoes", epochs=1, limit=640, log_every=2,
                        callbacks=[dash])
    w, h = dash.w, dash.history
    total = h.begin.total_steps
    assert run.status == "completed" and run.steps == total == w["progress"].value
    assert w["progress"].bar_style == "success"
    assert f"step {total}/{total}" in w["status"].value
    # The loss chart holds exactly the logged losses of the run.
    logged = [r["loss"] for r in run.history.to_dict("records") if r["kind"] == "train"]
    rows = layer_values(charts.loss_chart(h.rows).to_dict())
    assert [r["loss"] for r in rows if r["series"] == "train"] == pytest.approx(logged)
    assert w["loss"].value.startswith("<svg") and w["validation"].value.startswith("<svg")
    # The confusion matrix shown is the test report's, cell by cell.
    matrix = run.test_report.confusion_matrix
    assert "confusion matrix (test" in w["confusion"].value
    for count in (c for row in matrix for c in row):
        assert f">{count:,}<" in w["confusion"].value
    assert sum(map(sum, matrix)) == h.begin.dataset_sizes["test"]
    for label in run.label_names:
        assert label in w["per_class"].value
    assert "data:image/png" in dash.summary_html and "completed" in dash.summary_html
    assert "data:image/png" in run_summary_html(run)


@pytest.mark.slow
def test_real_run_stopped_from_the_dashboard_keeps_the_weights():
    import jaxtext

    dash = Dashboard(display=False)
    run = jaxtext.train(model="mlp", data="rotten_tomatoes", epochs=3, limit=640, log_every=2,
                        callbacks=[dash, _StopAt(dash, 3)])
    assert dash.stop_clicked and run.status == "interrupted"
    # stopped within the steps already queued when step 3 finished
    assert 3 <= run.steps <= 3 + MAX_IN_FLIGHT and run.steps < dash.history.begin.total_steps
    assert dash.history.interrupt.reason == STOP_REASON
    assert dash.w["progress"].bar_style == "warning" and dash.w["progress"].value == run.steps
    assert "stopped from the dashboard" in dash.w["message"].value
    probs = run.predict(["a wonderful, moving film"])
    assert len(probs) == 1  # the model is usable: the weights were kept
