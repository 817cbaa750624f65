"""Pieces the benchmark scripts share: stopping a run after N steps, a small fixed IMDB subset."""

from __future__ import annotations

import numpy as np

import jaxtext


class StopAfter(jaxtext.Callback):
    """Ask the trainer to stop once ``steps`` steps were dispatched (a timing window)."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step(self, step: int) -> None:
        if step >= self.steps:
            self.control.request_stop("benchmark window done")


def imdb_subset(task: str, train: int, held_out: int):
    """A small in-memory IMDB (the same rows every time) for the scripts' --quick runs."""
    import datasets

    from jaxtext.data import load_data

    splits = load_data("imdb", task=task).splits
    sizes = {"train": train, "validation": held_out, "test": held_out}
    rng = np.random.default_rng(0)
    return datasets.DatasetDict({
        s: splits[s].select(np.sort(rng.choice(len(splits[s]), n, replace=False)))
        for s, n in sizes.items()})
