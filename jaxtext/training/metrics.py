"""Classification, regression, multi-label and language-model metrics, from predictions
gathered on the host.

Pure numpy: the jitted eval step returns probabilities (classify) or NLL sums (lm);
these functions turn them into the numbers users read.
"""

from __future__ import annotations

import math

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """int64[true, predicted] counts.

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, predictions), 1)
    return cm


def per_class_report(cm: np.ndarray, label_names: list[str]) -> list[dict]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    actual = cm.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        {"label": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(label_names, precision, recall, f1, actual, strict=True)
    ]


def classification_metrics(probs: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict:
    """loss, accuracy, macro_f1, confusion_matrix and per_class from probabilities [N, C]."""
    n, num_classes = probs.shape
    if n == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "macro_f1": float("nan"),
                "confusion_matrix": np.zeros((num_classes, num_classes), np.int64), "per_class": []}
    predictions = probs.argmax(axis=1)
    cm = confusion_matrix(labels, predictions, num_classes)
    per_class = per_class_report(cm, label_names)
    return {
        "loss": float(example_losses(probs, labels).mean()),
        "accuracy": float((predictions == labels).mean()),
        "macro_f1": float(np.mean([c["f1"] for c in per_class])),
        "confusion_matrix": cm,
        "per_class": per_class,
    }


def example_losses(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float[N] (the dtype of ``probs``) cross-entropy of each example, ``-log p(true class)`` (p clipped at 1e-12,
    so a certain mistake costs 27.6 nats rather than infinity).

    >>> example_losses(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 1])).round(3).tolist()
    [0.693, 2.303]
    """
    labels = np.asarray(labels)
    picked = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(picked, 1e-12, 1.0))


def highest_losses(probs: np.ndarray, labels: np.ndarray, k: int,
                   mistakes_only: bool = False) -> np.ndarray:
    """Rows of the ``k`` highest-loss examples, highest first (ties: the earlier row first).

    The one ranking behind ``Run.top_losses`` and the dashboard's "most confident mistakes"
    (``mistakes_only``: rows whose prediction is wrong).

    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> highest_losses(probs, np.array([1, 1, 1, 0]), 3).tolist()
    [0, 3, 2]
    >>> highest_losses(np.array([[0.4, 0.6], [0.55, 0.45]]), np.array([1, 0]), 5,
    ...                mistakes_only=True).tolist()
    []
    """
    labels = np.asarray(labels)
    rows = np.arange(len(labels))
    if mistakes_only:
        rows = rows[probs.argmax(axis=1) != labels]
    losses = example_losses(probs[rows], labels[rows])
    return rows[np.argsort(-losses, kind="stable")][:max(0, k)]


def language_model_metrics(nll_sum: float, tokens: float, chars: float) -> dict:
    """loss (nats/token), perplexity and bits per character from summed NLL."""
    loss = nll_sum / max(tokens, 1.0)
    return {
        "loss": float(loss),
        "perplexity": float(math.exp(min(loss, 50.0))),
        "bits_per_char": float(nll_sum / max(chars, 1.0) / math.log(2)),
    }


def regression_metrics(predicted: np.ndarray, target: np.ndarray) -> dict:
    """r2, mae and rmse of predictions float[N] against targets float[N] (the data's units).

    >>> m = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 3.0]))
    >>> round(m["r2"], 3), round(m["mae"], 3), round(m["rmse"], 3)
    (0.25, 0.667, 0.816)
    """
    if len(target) == 0:
        return {"r2": float("nan"), "mae": float("nan"), "rmse": float("nan")}
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    error = predicted - target
    spread = np.sum((target - target.mean()) ** 2)
    r2 = 1.0 - np.sum(error**2) / spread if spread > 0 else float("nan")
    return {"r2": float(r2), "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error**2).mean()))}


def multilabel_metrics(probs: np.ndarray, targets: np.ndarray, label_names: list[str],
                       threshold: float) -> dict:
    """loss (mean sigmoid cross-entropy), micro_f1, macro_f1 and per_class, from
    probabilities float[N, K] and multi-hot targets float[N, K], a label predicted where its
    probability reaches ``threshold``."""
    n, k = probs.shape
    if n == 0:
        return {"loss": float("nan"), "micro_f1": float("nan"), "macro_f1": float("nan"),
                "per_class": []}
    truth = targets > 0.5
    predicted = probs >= threshold
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    loss = -np.where(truth, np.log(p), np.log1p(-p)).mean()
    tp = (predicted & truth).sum(0).astype(float)
    fp = (predicted & ~truth).sum(0).astype(float)
    fn = (~predicted & truth).sum(0).astype(float)
    per_class = []
    for j, name in enumerate(label_names):
        precision, recall, f1 = _prf(tp[j], fp[j], fn[j])
        per_class.append({"label": name, "precision": precision, "recall": recall, "f1": f1,
                          "support": int(truth[:, j].sum())})
    return {"loss": float(loss), "micro_f1": _prf(tp.sum(), fp.sum(), fn.sum())[2],
            "macro_f1": float(np.mean([c["f1"] for c in per_class])), "per_class": per_class}


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (0 where undefined)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def best_threshold(probs: np.ndarray, targets: np.ndarray) -> float:
    """The decision threshold with the best micro-F1 on these rows (ties: the one nearest 0.5).

    Candidates are 0.05, 0.10, ..., 0.95: finer steps fit the validation split's noise.

    >>> best_threshold(np.array([[0.3, 0.8], [0.2, 0.1]]), np.array([[1.0, 1.0], [0.0, 0.0]]))
    0.3
    """
    truth = targets > 0.5
    candidates = np.round(np.arange(1, 20) * 0.05, 2)
    scores = []
    for t in candidates:
        predicted = probs >= t
        tp = float((predicted & truth).sum())
        fp = float((predicted & ~truth).sum())
        fn = float((~predicted & truth).sum())
        scores.append(_prf(tp, fp, fn)[2])
    scores = np.array(scores)
    best = np.flatnonzero(scores == scores.max())
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])
