"""pytest settings for the example notebooks, which nbval runs cell by cell on a fresh kernel.

* Every notebook cell is marked ``notebook`` and ``slow``: ``make test-fast`` (``-m "not slow"``)
  leaves them out, ``pytest -m notebook`` runs only them.
* Each notebook has a time budget (``NOTEBOOK_BUDGET_S``), measured from its kernel's start to
  the end of its last cell. A notebook over budget fails its last cell, and the terminal summary
  lists every notebook's time.
* The kernels inherit this process's environment: JAX runs on the CPU, as in ``tests/``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

# Set before nbval starts any kernel (at the first cell's setup), so every kernel inherits it.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

NOTEBOOK_BUDGET_S = 180.0  # a notebook must run in 3 minutes on 2 CPU cores
NOTEBOOK_TARGET_S = 90.0  # what we aim for; above it the summary flags the notebook

_seconds: dict[str, float] = defaultdict(float)  # notebook path -> setup + call time so far
_last_cell: dict[str, str] = {}  # notebook path -> nodeid of its last selected cell


def _notebook_of(item) -> str | None:
    """The notebook's path for an nbval cell, ``None`` for any other test."""
    if type(item).__name__ != "IPyNbCell":
        return None
    return str(Path(str(item.fspath)).relative_to(item.config.rootpath))


def pytest_configure(config):
    # Accept the sanitize file from pyproject also when pytest starts in another folder.
    option = getattr(config.option, "nbval_sanitize_with", None)
    if option and not os.path.isabs(option) and not os.path.exists(option):
        config.option.nbval_sanitize_with = str(config.rootpath / option)


def pytest_itemcollected(item):
    if _notebook_of(item) is not None:
        item.add_marker(pytest.mark.notebook)
        item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session):
    for item in session.items:  # the final selection, after -k / -m
        notebook = _notebook_of(item)
        if notebook is not None:
            _last_cell[notebook] = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    notebook = _notebook_of(item)
    if notebook is None or call.when == "teardown":  # teardown only shuts the kernel down
        return
    _seconds[notebook] += call.duration  # the first cell's setup starts the kernel
    report = outcome.get_result()
    over = _seconds[notebook] - NOTEBOOK_BUDGET_S
    if call.when == "call" and item.nodeid == _last_cell.get(notebook) and over > 0:
        report.outcome = "failed"
        report.longrepr = (f"{notebook} took {_seconds[notebook]:.0f} s, over its budget of "
                           f"{NOTEBOOK_BUDGET_S:.0f} s: make its training smaller "
                           "(limit, epochs, max_len, model size)")


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    terminalreporter.section("example notebooks (kernel start to last cell)")
    for notebook, seconds in sorted(_seconds.items()):
        flag = ""
        if seconds > NOTEBOOK_BUDGET_S:
            flag = f"  OVER BUDGET ({NOTEBOOK_BUDGET_S:.0f} s)"
        elif seconds > NOTEBOOK_TARGET_S:
            flag = f"  (above the {NOTEBOOK_TARGET_S:.0f} s target)"
        terminalreporter.write_line(f"{seconds:7.1f} s  {notebook}{flag}")

