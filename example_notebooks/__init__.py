"""Makes pytest import example_notebooks/conftest.py as its own module, apart from tests/conftest.py."""
