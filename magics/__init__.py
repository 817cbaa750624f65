"""IPython magics for jaxtext: ``%load_ext jaxtext``, then

    %%train clf --epochs 1 --lr 3e-3
    model: lstm
    data: $df              # $name: a notebook variable (DataFrame, Dataset, list of dicts)

    %train clf model=mlp data=rotten_tomatoes limit=1000

    %predict clf what a film!
    %%generate lm --max-new-tokens 100 --temperature 0.8
    Once upon a time

    %jaxtext list | runs | help

Defaults: ``%config JaxtextMagics.callbacks = ['progress']``, ``JaxtextMagics.show_dashboard``,
``JaxtextMagics.defaults = {'limit': 2000}``. Everything here calls the public Python API.
"""

from .magic import JaxtextMagics
from .parsing import PredictCommand, TrainCommand

__all__ = ["JaxtextMagics", "PredictCommand", "TrainCommand", "load_ipython_extension"]


def load_ipython_extension(ipython) -> None:
    """Register the magics; the instance joins ``%config`` (``JaxtextMagics.<trait>``)."""
    ipython.register_magics(JaxtextMagics)
