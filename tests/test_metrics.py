import math

import numpy as np

from jaxtext.training.metrics import (
    classification_metrics,
    confusion_matrix,
    language_model_metrics,
    per_class_report,
)


def test_confusion_matrix_counts_true_by_predicted():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_per_class_report_matches_hand_computation():
    cm = np.array([[8, 2], [1, 9]])
    neg, pos = per_class_report(cm, ["negative", "positive"])
    assert math.isclose(neg["precision"], 8 / 9) and math.isclose(neg["recall"], 0.8)
    assert math.isclose(pos["f1"], 2 * (9 / 11) * 0.9 / (9 / 11 + 0.9))
    assert pos["support"] == 10


def test_undefined_precision_is_zero_not_nan():
    report = per_class_report(np.array([[3, 0], [2, 0]]), ["a", "b"])
    assert report[1]["precision"] == 0.0 and report[1]["f1"] == 0.0


def test_classification_metrics_from_probabilities():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    out = classification_metrics(probs, np.array([0, 1, 1]), ["n", "p"])
    assert math.isclose(out["accuracy"], 2 / 3)
    assert math.isclose(out["loss"], -np.mean(np.log([0.9, 0.8, 0.4])), rel_tol=1e-6)
    assert out["confusion_matrix"].tolist() == [[1, 0], [1, 1]]


def test_language_model_metrics():
    out = language_model_metrics(nll_sum=10 * math.log(4), tokens=10, chars=20)
    assert math.isclose(out["perplexity"], 4.0, rel_tol=1e-9)
    assert math.isclose(out["bits_per_char"], 1.0, rel_tol=1e-9)  # 20 bits over 20 chars
