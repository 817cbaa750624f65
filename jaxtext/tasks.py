"""The tasks a run can train, in one table: what the model's head outputs, which metrics
validation reports and which of them early stopping watches by default.

Models stay task-agnostic: every task but ``lm`` asks a model for one vector per text
(``float32[B, Dims.num_outputs]``); only the output size, the loss and the metrics change.

- ``classify``: one class per text (softmax cross-entropy).
- ``lm``: next-token language model.
- ``regression``: one number per text (a numeric label column); the model predicts the
  target standardized with the train split's mean and std, reports are in the data's units.
- ``multilabel``: a list of labels per text (sigmoid cross-entropy per label), a decision
  ``threshold`` turning probabilities into label sets.
"""

from __future__ import annotations

TASK_METRICS = {  # the validation metrics of each task; the first is the default monitor
    "classify": ("accuracy", "macro_f1", "loss"),
    "lm": ("loss", "perplexity", "bits_per_char"),
    "regression": ("r2", "mae", "rmse", "loss"),
    "multilabel": ("micro_f1", "macro_f1", "loss"),
}
TASKS = tuple(TASK_METRICS)
HIGHER_IS_BETTER = frozenset({"accuracy", "macro_f1", "micro_f1", "r2"})
REGRESSION_LOSSES = ("mse", "mae", "huber")  # huber: quadratic within 1 std, linear beyond
LABELED = ("classify", "regression", "multilabel")  # tasks that read a label column


def per_text(task: str) -> bool:
    """One prediction per text (every task but the language model's one per token)."""
    return task != "lm"


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is an improvement (loss, mae, rmse: smaller)."""
    return metric in HIGHER_IS_BETTER
