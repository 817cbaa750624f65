"""Fixed ``train`` / ``validation`` / ``test`` splits, whatever splits a dataset comes with.

Split names are mapped to the three canonical ones (``dev`` -> ``validation``, ...), and
splits a dataset lacks are carved out of ``train`` with ``SPLIT_SEED``, a fixed seed that
does not depend on the run seed, so every run and benchmark is scored on the same test set.
"""

from __future__ import annotations

import datasets
import numpy as np

from jaxtext.data.columns import _labels
from jaxtext.errors import DataError

SPLIT_SEED = 20240611  # seeds every split jaxtext creates; never the run seed
SPLITS = ("train", "validation", "test")
HELD_OUT_FRACTION = 0.1  # size of a missing test / validation split, as a fraction of train
_SPLIT_ALIASES = {
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "train": "train",
}


def _named_splits(raw: datasets.Dataset | datasets.DatasetDict, name: str) -> dict:
    """Map split names to train/validation/test; a lone split is train, others are dropped."""
    if isinstance(raw, datasets.Dataset):
        raw = datasets.DatasetDict({"train": raw})
    if len(raw) == 0:
        raise DataError(f"{name} has no splits; pass a dataset with rows")
    splits = {}
    for split, ds in raw.items():
        canonical = "train" if len(raw) == 1 else _SPLIT_ALIASES.get(str(split).lower())
        if canonical and canonical not in splits:
            splits[canonical] = ds
    if "train" not in splits:
        raise DataError(
            f"{name} has no 'train' split (splits: {', '.join(raw)}); pass "
            "one split, e.g. data=dataset['<split>']"
        )
    if len(splits["train"]) == 0:
        raise DataError(f"{name} is empty (no rows); pass a dataset with rows")
    return splits


def _add_missing_splits(splits: dict, name: str, stratify: bool = True) -> dict:
    """Carve a missing ``test`` / ``validation`` out of train (``SPLIT_SEED``; stratified by
    class when ``stratify`` and train has an int ``label`` column)."""
    missing = [s for s in ("test", "validation") if s not in splits]
    if not missing:
        return splits
    train = splits["train"]
    n = len(train)
    held = tuple(max(1, round(HELD_OUT_FRACTION * n)) for _ in missing)
    if n - sum(held) < 1:
        raise DataError(
            f"{name}: only {n} training rows, too few to carve out "
            f"{' and '.join(missing)}; add rows or pass those splits"
        )
    labels = _labels(train) if stratify and "label" in train.column_names else None
    parts, rest = _split_indices(labels, n, held, SPLIT_SEED)
    out = dict(splits)
    for split, idx in zip(missing, parts, strict=True):
        out[split] = train.select(idx)
    out["train"] = train.select(rest)
    return out


def _split_indices(labels: np.ndarray | None, n: int, sizes: tuple[int, ...], seed: int):
    """Seeded, stratified partition of ``range(n)``: parts of ``sizes`` plus the rest.

    Each part takes its share of every class (largest-remainder rounding), so class
    proportions match in all parts. Indices in each part are sorted (file order).
    """
    rng = np.random.default_rng(seed)
    if labels is None:
        pools = [rng.permutation(n)]
    else:
        pools = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    parts = []
    for size in sizes:
        counts = np.array([len(p) for p in pools])
        share = size * counts / max(counts.sum(), 1)
        take = np.floor(share).astype(int)
        order = np.argsort(-(share - take), kind="stable")
        take[order[: size - take.sum()]] += 1
        parts.append(np.sort(np.concatenate([p[:k] for p, k in zip(pools, take, strict=True)])))
        pools = [p[k:] for p, k in zip(pools, take, strict=True)]
    return parts, np.sort(np.concatenate(pools))
