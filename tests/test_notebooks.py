"""The example notebooks are tested by nbval (see ``example_notebooks/conftest.py``); these tests
keep that honest: every notebook is in the configured run, is saved with the outputs of a real
top-to-bottom run, and is checked strictly except for the cells whose output really changes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "example_notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
IGNORE_TAG = "nbval-ignore-output"
MAX_NOTEBOOK_BYTES = 1_500_000  # outputs of a few dashboards and charts; never a data set
TRAINING = re.compile(r"^%%?train\b|jaxtext\.train\(|-m jaxtext train\b", re.M)


def read(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(path: Path):
    return [cell for cell in read(path).cells if cell.cell_type == "code"]


def ignored(cell) -> bool:
    return IGNORE_TAG in cell.metadata.get("tags", []) or "NBVAL_IGNORE_OUTPUT" in cell.source


def test_there_are_example_notebooks():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


def test_every_notebook_is_collected_by_the_configured_run():
    """``pytest`` with the settings of pyproject.toml (what ``make test`` runs) collects the cells
    of every notebook: adding a notebook without it being tested fails here."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    collected = set(re.findall(r"^example_notebooks/([^:\s]+\.ipynb)::", out.stdout, re.M))
    missing = sorted(p.name for p in NOTEBOOKS if p.name not in collected)
    assert not missing, f"notebooks not collected by nbval: {missing}"


def test_nbval_is_strict_for_the_whole_run():
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    addopts = options["addopts"].split()
    assert "--nbval" in addopts and "--nbval-lax" not in addopts
    assert "example_notebooks" in options["testpaths"]
    sanitize = [a.split("=", 1)[1] for a in addopts if a.startswith("--nbval-sanitize-with=")]
    assert sanitize and (ROOT / sanitize[0]).is_file()


def test_sanitize_patterns_compile():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((NOTEBOOK_DIR / "sanitize.cfg").read_text())
    assert patterns
    for regex, _ in patterns:
        re.compile(regex)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_from_a_fresh_top_to_bottom_run(path):
    cells = code_cells(path)
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; re-execute it on a fresh kernel, e.g. "
        "jupyter nbconvert --execute --to notebook --inplace"
    )
    errors = [o for cell in cells for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was saved with an error: {errors[0].get('ename')}"
    assert read(path).metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_mostly_checked_strictly(path):
    cells = code_cells(path)
    skipped = [c.source.splitlines()[0] for c in cells
               if "nbval-skip" in c.metadata.get("tags", []) or "NBVAL_SKIP" in c.source]
    assert not skipped, f"{path.name}: cells skipped by nbval: {skipped}"
    strict_with_output = [c for c in cells if not ignored(c) and c.outputs]
    assert len(strict_with_output) >= 3, f"{path.name}: too few outputs are checked"
    assert sum(map(ignored, cells)) <= len(strict_with_output), (
        f"{path.name}: more cells have their output ignored than checked")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_training_in_notebooks_is_seeded(path):
    """Strict outputs need reproducible runs: every training cell names its seed (a magic cell
    may take it from ``%config JaxtextMagics.defaults``)."""
    cells = code_cells(path)
    seeded_defaults = any("JaxtextMagics.defaults" in c.source and "seed" in c.source
                          for c in cells)
    for cell in cells:
        if TRAINING.search(cell.source):
            magic = cell.source.lstrip().startswith("%")
            has_seed = ("seed" in cell.source or "--config" in cell.source
                        or (magic and seeded_defaults))
            assert has_seed, f"{path.name}: no seed in training cell {cell.source[:60]!r}"


def test_notebook_folder_ships_no_data():
    allowed = {".ipynb", ".py", ".cfg", ".md"}
    extra = [p.name for p in NOTEBOOK_DIR.iterdir()
             if p.is_file() and p.suffix not in allowed]
    assert not extra, f"example_notebooks/ holds {extra}; notebooks build their data at run time"
    big = [p.name for p in NOTEBOOKS if p.stat().st_size > MAX_NOTEBOOK_BYTES]
    assert not big, f"notebooks over {MAX_NOTEBOOK_BYTES:,} bytes: {big}"
