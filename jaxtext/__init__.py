"""jaxtext: train, inspect and sample text models in JAX/Flax.

Public API (everything else is private):

    run = jaxtext.train(model="lstm", data="imdb", epochs=2)
    run.predict(["what a film!"]); run.evaluate("test"); run.save("runs/clf")
    run = jaxtext.load("runs/clf")

Plugins register with ``register_model`` / ``register_dataset`` / ``register_tokenizer`` /
``register_callback`` or through entry points of the same group names.
"""

from jaxtext.callbacks import Callback, TrainingControl
from jaxtext.config import Config
from jaxtext.errors import ConfigError, DataError, JaxtextError, TrainingError, UnknownNameError
from jaxtext.registry import (
    register_callback,
    register_dataset,
    register_model,
    register_tokenizer,
)

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "Config",
    "ConfigError",
    "DataError",
    "JaxtextError",
    "TrainingControl",
    "TrainingError",
    "UnknownNameError",
    "load",
    "register_callback",
    "register_dataset",
    "register_model",
    "register_tokenizer",
    "train",
]


def train(config=None, /, *, callbacks="auto", **keys):
    """Train a model and return the finished ``Run`` (see ``jaxtext.training.trainer``)."""
    from jaxtext.training.trainer import train as _train

    return _train(config, callbacks=callbacks, **keys)


def load(path):
    """Load a run saved with ``Run.save`` (bit-exact params, optimizer state, tokenizer)."""
    from jaxtext.run import Run

    return Run.load(path)


def load_ipython_extension(ipython):
    """``%load_ext jaxtext``: the magics live in the ``jaxtext.magics`` plugin package."""
    from jaxtext.magics import load_ipython_extension as _load

    _load(ipython)
