"""The dashboard in a real JupyterLab 4 + headless Chromium, offline.

One notebook, run with "Run All": ``%%train`` shows the live dashboard; the test waits for the
progress bar, the loss chart (SVG) and the confusion matrix, saves a screenshot to
``artifacts/dashboard.png``, clicks Stop while the cell is busy, and checks the run stopped early
with its weights and no traceback, leaving the static summary. A second ``%%train`` cell is then
stopped with the kernel interrupt (■). Needs Debian's chromium (``.ci/install-browser``).
"""

from __future__ import annotations

import re
import time

import pytest
from browser_harness import (
    ARTIFACTS,
    JupyterLab,
    cell_states,
    interrupt_kernel,
    lab_page,
    output_text,
    run_all_cells,
    skip_without_browser,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# far more than the test waits for (400 epochs of this run took ~4 s once compiled): the run
# can only end early by being stopped
EPOCHS = 5000

TRAIN_CELL = """%%train {name}
model: mlp
data: rotten_tomatoes
limit: 1000
epochs: {epochs}
log_every: 3
"""

CELLS = [
    "%load_ext jaxtext",
    TRAIN_CELL.format(name="run", epochs=EPOCHS),
    'print("RESULT", run.status, run.steps, run.model_state.params is not None)',
    TRAIN_CELL.format(name="run2", epochs=EPOCHS),
    'print("RESULT2", run2.status, run2.steps)',
]

DASH = ".jaxtext-dashboard"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    skip_without_browser()
    workdir = tmp_path_factory.mktemp("lab")
    with JupyterLab(workdir) as server:
        yield server


def _bar_percent(page) -> float:
    style = page.locator(f"{DASH} .widget-hprogress .progress-bar").get_attribute("style") or ""
    match = re.search(r"width:\s*([\d.]+)%", style)
    return float(match.group(1)) if match else 0.0


def test_dashboard_live_stop_and_summary(lab, tmp_path):
    write_notebook(lab.root / "dashboard.ipynb", CELLS)
    ARTIFACTS.mkdir(exist_ok=True)
    with lab_page(lab, "dashboard.ipynb", tmp_path / "profile",
                  failure_screenshot=ARTIFACTS / "browser-failure.png") as page:
        run_all_cells(page)

        # Live: the progress bar moves, the loss chart and then the confusion matrix render.
        page.wait_for_selector(f"{DASH} .widget-hprogress .progress-bar", timeout=90_000)
        page.wait_for_selector(f"{DASH} .jaxtext-loss svg", timeout=90_000)
        page.wait_for_selector(f"{DASH} .jaxtext-confusion svg", timeout=90_000)
        # Screenshot (for the README) once a later epoch's charts show (renders are spaced to
        # keep them under 2 % of the wall clock, so not every epoch is drawn).
        page.locator(f"{DASH} .jaxtext-confusion svg text",
                     has_text=re.compile(r"epoch ([2-9]|[1-9]\d+)\b")).wait_for(timeout=90_000)
        page.locator(f"{DASH} .jaxtext-validation svg text", has_text="macro_f1").first.wait_for(
            timeout=30_000)
        page.wait_for_function(
            f"() => /width: *[1-9]/.test(document.querySelector("
            f"'{DASH} .widget-hprogress .progress-bar').getAttribute('style') || '')")
        assert _bar_percent(page) > 0
        # the status says what the run is doing: training (between evaluations) looks like this
        training = rf"epoch \d+/{EPOCHS} · step [\d,]+/[\d,]+ · [\d,]+ ex/s"
        page.wait_for_function(
            f"() => new RegExp({training!r}).test(document.querySelector("
            f"'{DASH} .jaxtext-status').innerText)", timeout=30_000)
        assert page.locator(f"{DASH} .jaxtext-confusion svg text").count() >= 4  # counts in cells
        assert page.locator(f"{DASH} .jaxtext-per-class table").count() == 1
        dashboard = page.locator(DASH)
        dashboard.scroll_into_view_if_needed()
        dashboard.screenshot(path=str(ARTIFACTS / "dashboard.png"))

        # Stop while the cell is busy: handled at once (kernel subshell), run ends early.
        clicked = time.monotonic()
        page.locator(f"{DASH} button", has_text="Stop").click()
        page.wait_for_selector(".jaxtext-summary", timeout=60_000)
        stop_latency = time.monotonic() - clicked
        page.wait_for_function(
            "() => { const m = window.jupyterapp.shell.currentWidget.content.model;"
            " const c = m.cells.get(2); return c.executionCount !== null &&"
            " c.outputs.length > 0; }", timeout=60_000)
        cells = cell_states(page)
        result = output_text(cells[2:3])
        match = re.search(r"RESULT (\w+) (\d+) (\w+)", result)
        assert match, result
        status_, steps, has_params = match.group(1), int(match.group(2)), match.group(3)
        assert status_ == "interrupted" and has_params == "True", result
        assert steps < EPOCHS * 16 // 2, f"stopped at step {steps}: not early"  # 16 steps/epoch
        train_out = cells[1]["outputs"]
        assert not [o for o in train_out if o["output_type"] == "error"], train_out
        assert "Traceback" not in output_text(cells[1:2])
        assert "stopped from the dashboard" in output_text(cells[1:2])
        # The static summary replaced the widget: header HTML, the charts as a drawn PNG.
        mimes = [m for o in train_out for m in o.get("data", {})]
        assert "text/html" in mimes and "image/png" in mimes, mimes
        assert "application/vnd.jupyter.widget-view+json" not in mimes, mimes
        charts = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea img")
        assert charts.count() == 1 and charts.first.evaluate("i => i.naturalWidth") > 600
        page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea").screenshot(
            path=str(ARTIFACTS / "summary.png"))

        # The kernel interrupt (■) also stops at the next step boundary, without a traceback.
        page.wait_for_selector(f"{DASH} .jaxtext-loss svg", timeout=90_000)
        interrupt_kernel(page)
        page.wait_for_function(
            "() => { const m = window.jupyterapp.shell.currentWidget.content.model;"
            " const c = m.cells.get(4); return c.executionCount !== null &&"
            " c.outputs.length > 0; }", timeout=60_000)
        cells = cell_states(page)
        result2 = output_text(cells[4:5])
        assert re.search(r"RESULT2 interrupted \d+", result2), output_text(cells[3:5])
        assert not [o for o in cells[3]["outputs"] if o["output_type"] == "error"]
    print(f"stop click -> summary shown: {stop_latency:.2f} s")
