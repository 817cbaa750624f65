"""The views added around training, drawn by a real JupyterLab + headless Chromium, offline:
the LR finder's chart, the sweep dashboard, a comparison of runs, and a regression run's
predicted-vs-true scatter (in its summary picture). One notebook, "Run All"; each view must show its picture (an SVG or
an image of real size) and no traceback. Needs Debian's chromium (``.ci/install-browser``).
"""

from __future__ import annotations

import time

import pytest
from browser_harness import (
    ARTIFACTS,
    JupyterLab,
    cell_states,
    lab_page,
    output_text,
    run_all_cells,
    skip_without_browser,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMALL = "model: mlp\ndata: rotten_tomatoes\nlimit: 1000\neval_limit: 200\n"

CELLS = [
    "%load_ext jaxtext\nimport numpy as np",
    f"%%lr_find finder --steps 30\n{SMALL}",
    'print("FINDER", finder.status, finder.suggested > 0)',
    f"%%sweep grid --epochs 2\n{SMALL}sweep:\n  lr: [0.01, 0.03]",
    'print("SWEEP", len(grid.runs), list(grid.table.columns)[:1])',
    "import jaxtext\njaxtext.compare(grid[0], grid[1], by='epoch')",
    # a regression target the words say: how many times a review says "good" or "great"
    "import datasets\nfrom jaxtext.data import load_data\n"
    "texts = list(load_data('rotten_tomatoes').splits['train']['text'][:1500])\n"
    "scores = [float(t.split().count('good') + t.split().count('great')) + "
    "0.1 * len(t.split()) / 10 for t in texts]\n"
    "reviews = {'text': texts, 'label': scores}",
    "%%train reg\ntask: regression\ndata: $reviews\nepochs: 3\nmodel: mlp\neval_limit: 200",
    'print("REG", reg.status, sorted(reg.test_metrics)[:3])',
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    skip_without_browser()
    with JupyterLab(tmp_path_factory.mktemp("views")) as server:
        yield server


def _wait_output(page, text: str, timeout_s: float) -> str:
    """Wait until some cell's output (not its source) contains ``text``; -> all output text."""
    deadline = time.monotonic() + timeout_s
    while True:
        outputs = output_text(cell_states(page))
        if text in outputs:
            return outputs
        assert "Traceback" not in outputs, outputs[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} after {timeout_s} s: {outputs[-2000:]}"
        time.sleep(0.5)


def test_finder_sweep_compare_and_regression_views_render(lab, tmp_path):
    write_notebook(lab.root / "views.ipynb", CELLS)
    with lab_page(lab, "views.ipynb", tmp_path / "profile",
                  failure_screenshot=ARTIFACTS / "browser-views-failure.png") as page:
        run_all_cells(page)
        panel = "#" + page.evaluate("() => window.jupyterapp.shell.currentWidget.node.id")
        _wait_output(page, "FINDER ", 240)
        finder = page.locator(f"{panel} .jaxtext-lr-finder").first
        finder.locator("svg, img").first.wait_for(timeout=60_000)
        finder.screenshot(path=str(ARTIFACTS / "lr-finder.png"))
        _wait_output(page, "SWEEP 2", 300)
        sweep = page.locator(f"{panel} .jp-Notebook .jp-Cell").nth(3)
        sweep.locator(".jp-OutputArea svg, .jp-OutputArea img").first.wait_for(timeout=60_000)
        _wait_output(page, "REG completed", 300)
        compare = page.locator(f"{panel} .jaxtext-compare img").first
        compare.wait_for(timeout=60_000)
        size = compare.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        assert size[0] > 300 and size[1] > 100, size
        # the finished run's summary: its charts (predicted vs true among them) as one picture
        summary = page.locator(f"{panel} .jp-Notebook .jp-Cell").nth(7).locator(
            ".jp-OutputArea img").first
        summary.wait_for(timeout=60_000)
        size = summary.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        assert size[0] > 300 and size[1] > 100, size
        summary.screenshot(path=str(ARTIFACTS / "regression-summary.png"))
        states = cell_states(page)
        text = output_text(states)
        assert "FINDER completed True" in text or "FINDER diverged True" in text, text[-2000:]
        assert "Traceback" not in text, text[-3000:]
        page.locator(panel).screenshot(path=str(ARTIFACTS / "views.png"))
