"""Drive a real JupyterLab 4 in headless Chromium, offline, for the browser tests.

``JupyterLab`` starts a private server (temp root and config dirs, a token, 127.0.0.1 and a free
port) and ``lab_page`` opens a notebook in Debian's ``chromium`` through the ``playwright``
package (never ``playwright install``: it downloads a browser). See shared/BROWSER.md for why
each flag is here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]

# Screenshots and timings the browser tests leave for people (CI keeps the folder).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A minimal nbformat-4 notebook of code cells, with the venv's python3 kernel."""
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": src,
                   "outputs": [], "execution_count": None} for i, src in enumerate(cells)],
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


class JupyterLab:
    """``with JupyterLab(tmp) as lab: lab.url("lab/tree/x.ipynb")`` -- a private server."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, theme: str = ""):
        self.workdir = Path(workdir)
        self.theme = theme  # e.g. "JupyterLab Dark"; "" keeps the default light theme
        self.root = self.workdir / "root"
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "jupyterlab.log"

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def __enter__(self) -> JupyterLab:
        dirs = {name: self.workdir / name for name in
                ("config", "runtime", "ipython", "settings", "workspaces", "data")}
        for d in [self.root, *dirs.values()]:
            d.mkdir(parents=True, exist_ok=True)
        news = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        if self.theme:
            (news / "themes.jupyterlab-settings").write_text(json.dumps({"theme": self.theme}))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]),
               "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"]),
               "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
               "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
               # its own notebook-trust database: a notebook never run here is untrusted
               "JUPYTER_DATA_DIR": str(dirs["data"]), **self.extra_env}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
               "--ServerApp.open_browser=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session only
                self.proc.wait(5)
        self._log_file.close()


@contextmanager
def lab_page(lab: JupyterLab, notebook: str, profile_dir: Path,
             failure_screenshot: Path | None = None):
    """A Playwright page with ``notebook`` open and its kernel idle; on an error, a screenshot of
    the page goes to ``failure_screenshot`` (CI keeps artifacts/)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile_dir), executable_path=chromium_path(), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1800})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(lab.url(f"lab/tree/{notebook}"))
            # The lab restores the tabs of earlier tests in the same server: wait for *this*
            # notebook to be the current one, not just any notebook with an idle kernel.
            page.wait_for_function(
                "path => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                " return w && w.context && w.context.path === path &&"
                " w.sessionContext && w.sessionContext.session &&"
                " w.sessionContext.session.kernel &&"
                " w.sessionContext.session.kernel.status === 'idle'; }",
                arg=notebook, timeout=60_000)
            try:
                yield page
            except BaseException:
                if failure_screenshot is not None:
                    with suppress(Exception):  # the page may be gone; keep the real error
                        page.screenshot(path=str(failure_screenshot), full_page=True)
                raise
        finally:
            context.close()


def _command(page, command: str) -> None:
    # Not awaited: the command's promise resolves only when the cells have finished.
    page.evaluate(f"() => {{ window.jupyterapp.commands.execute('{command}'); }}")


def run_all_cells(page) -> None:
    _command(page, "notebook:run-all-cells")


def interrupt_kernel(page) -> None:
    _command(page, "kernelmenu:interrupt")


def cell_states(page) -> list[dict]:
    """Per cell: execution count and outputs (nbformat JSON) from JupyterLab's own model."""
    return page.evaluate(
        "() => { const m = window.jupyterapp.shell.currentWidget.content.model; const out = [];"
        " for (let i = 0; i < m.cells.length; i++) { const c = m.cells.get(i);"
        "   out.push({type: c.type, count: c.type === 'code' ? c.executionCount : null,"
        "             outputs: c.type === 'code' ? c.outputs.toJSON() : []}); }"
        " return out; }")


def kernel_status(page) -> str:
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status")


def output_text(cells: list[dict]) -> str:
    """All text of all outputs (streams, text/plain, text/html, tracebacks), for assertions."""
    parts = []
    for cell in cells:
        for out in cell["outputs"]:
            if "text" in out:
                parts.append("".join(out["text"]) if isinstance(out["text"], list)
                             else out["text"])
            for mime in ("text/plain", "text/html"):
                data = out.get("data", {}).get(mime)
                if data:
                    parts.append("".join(data) if isinstance(data, list) else data)
            if out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


def skip_without_browser() -> None:
    """Skip a browser test where Chromium or the Python packages are missing."""
    import pytest

    if chromium_path() is None:
        pytest.skip("chromium is not installed (run .ci/install-browser)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
