"""Evaluation results of the regression and multi-label tasks, from the eval step's outputs.

Pure host code (numpy): ``evaluate`` gathers the outputs of every batch, these functions turn
them into the ``EvalResult`` the views and the ``Run`` read.
"""

from __future__ import annotations

import numpy as np

from jaxtext import events as ev
from jaxtext.training.metrics import best_threshold, multilabel_metrics, regression_metrics
from jaxtext.training.steps import regression_error

MAX_PAIRS = 500  # points of the predicted-vs-true scatter kept in an event (history.json)


def unstandardize(values: np.ndarray, task_params: dict[str, float]) -> np.ndarray:
    """Standardized regression values back in the data's units (float64)."""
    return np.asarray(values, np.float64) * task_params["target_std"] + task_params["target_mean"]


def regression_result(outputs: np.ndarray, targets: np.ndarray, task_params: dict[str, float],
                      loss: str, split: str, epoch: int, step: int) -> ev.EvalResult:
    """outputs float[N, 1] and targets float[N], both standardized; ``loss``: mse|mae|huber.

    ``loss`` is the training objective (on standardized targets, so it matches the training
    curve); r2, mae and rmse are in the data's units.
    """
    standardized = outputs[:, 0]
    objective = np.asarray(regression_error(standardized, targets, loss or "mse"))
    predicted, true = unstandardize(standardized, task_params), unstandardize(targets, task_params)
    metrics = {**regression_metrics(predicted, true),
               "loss": float(objective.mean()) if len(objective) else float("nan")}
    shown = np.linspace(0, len(true) - 1, min(len(true), MAX_PAIRS)).astype(int)
    pairs = [[float(true[i]), float(predicted[i])] for i in np.unique(shown)]
    return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics, pairs=pairs)


def decision_threshold(threshold: float | str, task_params: dict[str, float]) -> float:
    """The threshold in force: the config's number, or the one tuned on validation."""
    return threshold if not isinstance(threshold, str) else task_params.get("threshold", 0.5)


def multilabel_result(probs: np.ndarray, targets: np.ndarray, label_names: list[str],
                      threshold: float | str, task_params: dict[str, float], split: str,
                      epoch: int, step: int, *, tune: bool = False) -> ev.EvalResult:
    """probs and multi-hot targets float[N, K]. ``tune`` (with ``threshold: tune``): pick the
    micro-F1-best threshold on these rows; the result's metrics then carry it as
    ``threshold``, which the trainer records for the test split and ``predict``."""
    tuning = threshold == "tune"
    used = best_threshold(probs, targets) if tuning and tune and len(probs) \
        else decision_threshold(threshold, task_params)
    report = multilabel_metrics(probs, targets, label_names, used)
    metrics = {k: report[k] for k in ("micro_f1", "macro_f1", "loss")}
    if tuning:
        metrics["threshold"] = float(used)
    return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics,
                         label_names=list(label_names), per_class=report["per_class"])
