# Two entry points: `make demo` (set up + train the default model) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

## Train the default model (mlp) on the bundled IMDB reviews and print test metrics.
demo: venv
	$(PY) -m jaxtext train --model mlp --data imdb --out runs/demo

## The whole suite: unit tests, slow end-to-end runs, the notebooks (nbval), the browser test.
test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

## Unit tests only (seconds).
test-fast: venv
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check jaxtext magics widgets tests benchmarks

bench: venv
	$(PY) -m pip install -q -e ".[test,bench]"
	status=0; for b in classify lm dashboard checkpoint notebook frameworks serve lr_find sweep stream accel; do $(PY) benchmarks/bench_$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) runs artifacts .pytest_cache
