"""Evaluate model state on prepared data: one jitted eval step per batch, one fetch at the end.

Every function takes a ``ModelState`` (weights) and the data or tokenizer it needs, never a
``Run``, so the trainer can call them mid-training and the ``Run`` after it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from jaxtext import events as ev
from jaxtext.data.batching import classify_batches, lm_batches, pack_lm
from jaxtext.data.encoding import multi_hot
from jaxtext.data.pairs import SHOWN_SEPARATOR
from jaxtext.data.prepare import PreparedData
from jaxtext.data.targets import _labels_of, _number
from jaxtext.data.texts import all_rows, encode_texts
from jaxtext.errors import DataError, shown
from jaxtext.training.metrics import (
    classification_metrics,
    example_losses,
    highest_losses,
    language_model_metrics,
)
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState
from jaxtext.training.steps import eval_step_fn
from jaxtext.training.task_results import multilabel_result, regression_result

MISCLASSIFIED_SHOWN = 5
IN_FLIGHT = 2  # batches dispatched ahead of the last finished one (a stop waits for few)


class EvalHooks:
    """How an evaluation talks to whoever runs it. The default runs quietly to the end; the
    trainer's hooks show progress, compile new shapes where the clock keeps ticking, and stop
    between batches (raising its own exception) when the user asks."""

    def call(self, step, args: tuple, shape: tuple):
        return step(*args)

    def progress(self, done: int, total: int) -> None:
        pass


def _run_batches(step, model: ModelState, batches, dp: DataParallel, hooks: EvalHooks) -> list:
    """Outputs of ``step`` on every batch, with at most ``IN_FLIGHT`` batches queued."""
    outputs = []
    for i, batch in enumerate(batches):
        shape = tuple(np.shape(x) for x in batch if x is not None)
        outputs.append(hooks.call(step, (model.params, model.rest, dp.shard_batch(batch)), shape))
        if len(outputs) > IN_FLIGHT:
            jax.block_until_ready(outputs[-1 - IN_FLIGHT])
        hooks.progress(i + 1, len(batches))
    return outputs


def predict_probs(model: ModelState, encoded_split, *, num_classes: int, batch_size: int,
                  max_len: int, dp: DataParallel, hooks: EvalHooks | None = None,
                  task: str = "classify") -> np.ndarray:
    """float32[N, C] outputs for every example of an encoded split, in order: class
    probabilities (classify), label probabilities (multilabel) or standardized predictions
    (regression, C = 1)."""
    step = eval_step_fn(model, task)
    batches = classify_batches(encoded_split, batch_size, shuffle=False, seed=0, epoch=0,
                               max_len=max_len, pad_to_multiple=dp.num_devices)
    outputs = _run_batches(step, model, batches, dp, hooks or EvalHooks())
    indices = [batch.index for batch in batches]
    probs = np.zeros((len(encoded_split), num_classes), np.float32)
    if not outputs:
        return probs
    index = np.concatenate(indices)
    fetched = np.concatenate(dp.fetch(outputs))
    real = index >= 0
    probs[index[real]] = fetched[real]
    return probs


def lm_sums(model: ModelState, packed: np.ndarray, *, batch_size: int,
            dp: DataParallel, hooks: EvalHooks | None = None) -> dict:
    """Summed NLL and token count over a packed LM split (device sums, one fetch)."""
    step = eval_step_fn(model, "lm")
    batches = lm_batches(packed, batch_size, shuffle=False, seed=0, epoch=0,
                         pad_to_multiple=dp.num_devices)
    outputs = _run_batches(step, model, batches, dp, hooks or EvalHooks())
    if not outputs:
        return {"loss": 0.0, "count": 0.0}
    total = jax.tree.map(lambda *xs: sum(xs), *dp.fetch(outputs))
    return {k: float(v) for k, v in total.items()}


def evaluate_split(model: ModelState, data: PreparedData, split: str, *, dp: DataParallel,
                   epoch: int = 0, step: int = 0, hooks: EvalHooks | None = None,
                   limit: int = 0, task_params: dict | None = None,
                   tune: bool = False) -> ev.EvalResult:
    """Metrics of ``model`` on one prepared split ('train', 'validation' or 'test').

    ``limit``: score a fixed sample of at most that many examples (per-text tasks) or windows
    (lm) instead of the whole split; the result says so (``EvalResult.sampled``).
    ``task_params``: the run's (a tuned multilabel threshold); ``tune``: tune it on this split.
    """
    cfg = data.config
    if cfg.task == "lm":
        packed = data.packed[split]
        rows, total = sample_rows(len(packed), limit)
        sums = lm_sums(model, packed[rows] if rows is not None else packed,
                       batch_size=cfg.batch_size, dp=dp, hooks=hooks)
        chars = data.chars(split) * (len(rows) / total if rows is not None else 1.0)
        metrics = language_model_metrics(sums["loss"], sums["count"], chars)
        return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics,
                             sampled=len(rows) if rows is not None else 0)
    encoded = data.encoded[split]
    rows, _ = sample_rows(len(encoded), limit)
    if rows is not None:
        encoded = encoded.subset(rows)
    probs = predict_probs(model, encoded, num_classes=data.dims.num_outputs,
                          batch_size=cfg.batch_size, max_len=cfg.max_len, dp=dp, hooks=hooks,
                          task=cfg.task)
    result = per_text_result(probs, encoded, cfg, data.label_names,
                             {**data.task_params, **(task_params or {})}, split, epoch, step,
                             tune=tune)
    return result if rows is None else dataclasses.replace(result, sampled=len(rows))


def per_text_result(outputs, encoded, config, label_names, task_params, split, epoch, step,
                    tune=False) -> ev.EvalResult:
    """The EvalResult of a per-text task from its eval outputs float[N, K]."""
    if config.task == "regression":
        return regression_result(outputs, encoded.labels, task_params, config.loss, split,
                                 epoch, step)
    if config.task == "multilabel":
        return multilabel_result(outputs, encoded.labels, label_names, config.threshold,
                                 task_params, split, epoch, step, tune=tune)
    texts = encoded.texts if encoded.dataset is not None else None
    return classification_result(outputs, encoded.labels, label_names, split, epoch, step,
                                 texts=texts)


def shown_text(text: str | tuple[str, str]) -> str:
    """A text, or a pair of texts, as one line to show."""
    return text if isinstance(text, str) else SHOWN_SEPARATOR.join(text)


def new_targets(labels: list, config, label_names: list[str], task_params: dict) -> np.ndarray:
    """Labels of new data as the run's batches carry them: standardized numbers (regression)
    or multi-hot rows (multilabel); a value of the wrong kind is one DataError."""
    column = config.label_column
    if config.task == "regression":
        numbers = np.array([_number(v, column, "data", i, "data") for i, v in enumerate(labels)])
        if np.isnan(numbers).any():
            row = int(np.flatnonzero(np.isnan(numbers))[0])
            raise DataError(f"row {row} has no target in column '{column}'; give every row one")
        return ((numbers - task_params["target_mean"]) / task_params["target_std"]).astype(
            np.float32)
    rows = []
    for i, value in enumerate(labels):
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise DataError(f"row {i} of column '{column}' holds {shown(value)}; multilabel "
                            "needs a list of labels per row")
        rows.append(_labels_of(list(value), column, "data", i, "data"))
    return multi_hot(rows, label_names)


def sample_rows(n: int, limit: int) -> tuple[np.ndarray | None, int]:
    """A fixed, spread-out sample of ``limit`` of ``n`` rows (None: use them all)."""
    if not limit or limit >= n:
        return None, n
    return np.sort(np.random.default_rng(0).choice(n, limit, replace=False)), n


def classification_result(probs, labels, label_names, split, epoch, step,
                          texts=None) -> ev.EvalResult:
    """Metrics plus the most confidently misclassified examples (``texts(rows) -> list``)."""
    report = classification_metrics(probs, np.asarray(labels), label_names)
    examples = []
    if texts is not None:
        for row in ranked_examples(probs, labels, label_names, texts, MISCLASSIFIED_SHOWN,
                                   mistakes_only=True):
            text = row["text"]
            examples.append({"text": text if len(text) <= 400 else text[:400] + "…",
                             "label": row["true"], "predicted": row["predicted"],
                             "probs": row["probs"]})
    metrics = {k: report[k] for k in ("loss", "accuracy", "macro_f1")}
    return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics,
                         label_names=list(label_names),
                         confusion_matrix=report["confusion_matrix"].tolist(),
                         per_class=report["per_class"], examples=examples)


def ranked_examples(probs, labels, label_names, texts, k: int,
                    mistakes_only: bool = False) -> list[dict[str, Any]]:
    """The ``k`` highest-loss examples, highest first (``metrics.highest_losses``): text, true,
    predicted, probability (of the prediction), loss and every class's probability.

    ``texts(rows) -> list[str]`` reads only the texts shown.
    """
    labels = np.asarray(labels)
    rows = highest_losses(probs, labels, k, mistakes_only=mistakes_only) if len(labels) \
        else np.zeros(0, np.int64)
    losses = example_losses(probs[rows], labels[rows])
    out = []
    for row, text, loss in zip(rows, texts(rows), losses, strict=True):
        predicted = int(probs[row].argmax())
        out.append({"text": text, "true": label_names[int(labels[row])],
                    "predicted": label_names[predicted],
                    "probability": float(probs[row, predicted]), "loss": float(loss),
                    "probs": {n: float(p) for n, p in zip(label_names, probs[row], strict=True)}})
    return out


def classify_probs(model: ModelState, tokenizer, config, label_names: list[str], data: Any, *,
                   dp: DataParallel):
    """Probabilities of every row of outside ``data`` (labels matched to the run's classes by
    name): ``(float32[N, C], int32[N] labels, texts)``."""
    texts, labels = all_rows(data, task=config.task, text_column=config.text_column,
                             label_column=config.label_column, text_pair=config.text_pair)
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted({str(x) for x in labels} - set(index))
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not classes of this run "
                        f"({', '.join(label_names)}); map them to these names first")
    ids = np.array([index[str(x)] for x in labels], np.int32)
    encoded = encode_texts(tokenizer, texts, config.max_len, ids, config.truncate)
    probs = predict_probs(model, encoded, num_classes=len(label_names),
                          batch_size=config.batch_size, max_len=config.max_len, dp=dp)
    return probs, ids, texts


def evaluate_data(model: ModelState, tokenizer, config, label_names: list[str], data: Any, *,
                  dp: DataParallel, step: int = 0,
                  task_params: dict | None = None) -> ev.EvalResult:
    """Evaluate on data outside the run's splits: every row of ``data`` is used.

    ``data``: anything ``jaxtext.data.load_data`` reads (a name, "csv:PATH", a DataFrame,
    (texts, labels), ...). Labels are matched to the run's classes by name.
    """
    if config.task in ("regression", "multilabel", "lm"):
        texts, labels = all_rows(data, task=config.task, text_column=config.text_column,
                                 label_column=config.label_column, text_pair=config.text_pair)
    if config.task in ("regression", "multilabel"):
        targets = new_targets(labels, config, label_names, task_params or {})
        encoded = encode_texts(tokenizer, texts, config.max_len, targets, config.truncate)
        outputs = predict_probs(model, encoded, num_classes=targets.shape[1] if targets.ndim > 1
                                else 1, batch_size=config.batch_size, max_len=config.max_len,
                                dp=dp, task=config.task)
        return per_text_result(outputs, encoded, config, label_names, task_params or {}, "data",
                               0, step)
    if config.task == "lm":
        encoded = encode_texts(tokenizer, texts, None)
        sums = lm_sums(model, pack_lm(encoded, config.max_len), batch_size=config.batch_size,
                       dp=dp)
        return ev.EvalResult(split="data", epoch=0, step=step, metrics=language_model_metrics(
            sums["loss"], sums["count"], encoded.num_chars))
    probs, ids, texts = classify_probs(model, tokenizer, config, label_names, data, dp=dp)
    return classification_result(probs, ids, label_names, "data", 0, step,
                                 texts=lambda rows: [shown_text(texts[int(r)]) for r in rows])
