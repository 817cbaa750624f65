"""jaxtext: train, inspect and sample text models in JAX/Flax.

Public API (everything else is private):

    run = jaxtext.train(model="lstm", data="imdb", epochs=2)
    run.predict(["what a film!"]); run.evaluate("test"); run.save("runs/clf")
    run = jaxtext.load("runs/clf")
    run = jaxtext.train(model="mlp", data="imdb", preset="accurate"); jaxtext.presets("mlp")
    run.summary(); run.top_losses(10); jaxtext.compare(run, "runs/other", by="epoch")
    run.export("exports/clf"); jaxtext.load_exported("exports/clf").predict(["great"])
    finder = jaxtext.lr_find(model="lstm", data="imdb"); finder.suggested   # or lr="suggested"
    result = jaxtext.sweep({"model": "mlp"}, lr=[1e-3, 3e-3], seed=[0, 1]); result.best

Plugins register with ``register_model`` / ``register_dataset`` / ``register_tokenizer`` /
``register_callback`` or through entry points of the same group names.
"""

from jaxtext import display, events, protocols, settings
from jaxtext.callbacks import Callback, TrainingControl
from jaxtext.config import Config
from jaxtext.errors import (
    Cancelled,
    ConfigError,
    DataError,
    JaxtextError,
    RunFolderError,
    TrainingError,
    UnknownNameError,
)
from jaxtext.history import History
from jaxtext.keys import keys_table, keys_text
from jaxtext.model_presets import presets
from jaxtext.model_summary import ModelSummary
from jaxtext.protocols import Dims
from jaxtext.registry import (
    list_plugins,
    register_callback,
    register_dataset,
    register_model,
    register_tokenizer,
)
from jaxtext.sweeps import SweepResult

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "Cancelled",
    "Config",
    "ConfigError",
    "DataError",
    "Dims",
    "History",
    "JaxtextError",
    "ModelSummary",
    "Run",
    "RunFolderError",
    "SweepResult",
    "TrainingControl",
    "TrainingError",
    "UnknownNameError",
    "compare",
    "display",
    "events",
    "keys_table",
    "keys_text",
    "list_plugins",
    "load",
    "load_exported",
    "lr_find",
    "presets",
    "protocols",
    "register_callback",
    "register_dataset",
    "register_model",
    "register_tokenizer",
    "settings",
    "sweep",
    "train",
]


def train(config=None, /, *, callbacks="auto", **keys):
    """Train a model and return the finished ``Run`` (see ``jaxtext.api.train``)."""
    from jaxtext.api import train as _train

    return _train(config, callbacks=callbacks, **keys)


def sweep(config=None, /, *, callbacks="auto", **values):
    """Train a grid of configurations, those that share shapes together in one vmapped step;
    returns a ranked ``SweepResult`` (see ``jaxtext.api.sweep``)."""
    from jaxtext.api import sweep as _sweep

    return _sweep(config, callbacks=callbacks, **values)


def load(path):
    """Load a run saved with ``Run.save`` (bit-exact params, optimizer state, tokenizer)."""
    from jaxtext.api import load as _load

    return _load(path)


def compare(*runs, by="step", metric="loss"):
    """Runs (or saved run folders) side by side: curves, final metrics, differing config keys
    (see ``jaxtext.comparison.compare``)."""
    from jaxtext.comparison import compare as _compare

    return _compare(*runs, by=by, metric=metric)


def load_exported(path):
    """Load an export written by ``Run.export`` (see ``jaxtext.exported``): a classifier's
    ``.predict(texts)`` / ``.probs(texts)``, a language model's ``.generate(prompt, ...)``."""
    from jaxtext.exported import load_exported as _load_exported

    return _load_exported(path)


def lr_find(config=None, /, *, callbacks="auto", **keys):
    """Sweep the learning rate over this run's first steps; returns an ``LRFinderResult`` with
    ``lrs``, ``losses`` and the ``suggested`` rate (see ``jaxtext.api.lr_find``)."""
    from jaxtext.api import lr_find as _lr_find

    return _lr_find(config, callbacks=callbacks, **keys)


def __getattr__(name):
    if name == "Run":  # imported on first use: it pulls in JAX
        from jaxtext.run import Run

        return Run
    raise AttributeError(f"module 'jaxtext' has no attribute '{name}'")


def load_ipython_extension(ipython):
    """``%load_ext jaxtext``: load the notebook front ends registered as plugins.

    The core never imports them: each is an entry point in the group ``jaxtext.ipython``
    (the built-in magics, ``jaxtext.magics``, are one), called with the shell.
    """
    from importlib.metadata import entry_points

    front_ends = list(entry_points(group="jaxtext.ipython"))
    if not front_ends:
        raise ImportError("no jaxtext notebook front end is installed; pip install jaxtext "
                          "(its jaxtext.ipython entry point loads the magics)")
    for entry in front_ends:
        entry.load()(ipython)
