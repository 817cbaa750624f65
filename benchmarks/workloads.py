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


def pad_ids(ids: np.ndarray, offsets: np.ndarray, max_len: int) -> np.ndarray:
    """Rows of a flat (ids, offsets) encoding -> int32[N, max_len], head kept, 0-padded at the end.

    The same as ``keras.utils.pad_sequences(rows, max_len, padding="post", truncating="post")``
    without building N Python lists.
    """
    lengths = np.minimum(np.diff(offsets), max_len)
    out = np.zeros((len(lengths), max_len), np.int32)
    row = np.repeat(np.arange(len(lengths)), lengths)
    col = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[row, col] = ids[np.repeat(offsets[:-1], lengths) + col]
    return out
