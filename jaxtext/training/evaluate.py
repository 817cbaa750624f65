"""Evaluate model state on prepared data: one jitted eval step per batch, one fetch at the end.

Every function takes a ``ModelState`` (weights) and the data or tokenizer it needs, never a
``Run``, so the trainer can call them mid-training and the ``Run`` after it.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxtext import events as ev
from jaxtext.data.batching import classify_batches, lm_batches, pack_lm
from jaxtext.data.prepare import PreparedData
from jaxtext.data.texts import all_rows, encode_texts
from jaxtext.errors import DataError
from jaxtext.training.metrics import classification_metrics, language_model_metrics
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState
from jaxtext.training.steps import eval_step_fn

MISCLASSIFIED_SHOWN = 5


def predict_probs(model: ModelState, encoded_split, *, num_classes: int, batch_size: int,
                  max_len: int, dp: DataParallel) -> np.ndarray:
    """float32[N, C] class probabilities for every example of an encoded split, in order."""
    step = eval_step_fn(model, "classify")
    outputs, indices = [], []
    batches = classify_batches(encoded_split, batch_size, shuffle=False, seed=0, epoch=0,
                               max_len=max_len, pad_to_multiple=dp.num_devices)
    for batch in batches:
        outputs.append(step(model.params, model.rest, dp.shard_batch(batch)))
        indices.append(batch.index)
    probs = np.zeros((len(encoded_split), num_classes), np.float32)
    if not outputs:
        return probs
    index = np.concatenate(indices)
    fetched = np.concatenate(jax.device_get(outputs))
    real = index >= 0
    probs[index[real]] = fetched[real]
    return probs


def lm_sums(model: ModelState, packed: np.ndarray, *, batch_size: int,
            dp: DataParallel) -> dict:
    """Summed NLL and token count over a packed LM split (device sums, one fetch)."""
    step = eval_step_fn(model, "lm")
    total = None
    for batch in lm_batches(packed, batch_size, shuffle=False, seed=0, epoch=0,
                            pad_to_multiple=dp.num_devices):
        sums = step(model.params, model.rest, dp.shard_batch(batch))
        total = sums if total is None else jax.tree.map(lambda a, b: a + b, total, sums)
    if total is None:
        return {"loss": 0.0, "count": 0.0}
    return {k: float(v) for k, v in jax.device_get(total).items()}


def evaluate_split(model: ModelState, data: PreparedData, split: str, *, dp: DataParallel,
                   epoch: int = 0, step: int = 0) -> ev.EvalResult:
    """Metrics of ``model`` on one prepared split ('train', 'validation' or 'test')."""
    cfg = data.config
    if cfg.task == "lm":
        sums = lm_sums(model, data.packed[split], batch_size=cfg.batch_size, dp=dp)
        metrics = language_model_metrics(sums["loss"], sums["count"], data.chars(split))
        return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics)
    encoded = data.encoded[split]
    probs = predict_probs(model, encoded, num_classes=len(data.label_names),
                          batch_size=cfg.batch_size, max_len=cfg.max_len, dp=dp)
    return classification_result(probs, encoded.labels, data.label_names, split, epoch, step,
                                 texts=encoded.texts)


def classification_result(probs, labels, label_names, split, epoch, step,
                          texts=None) -> ev.EvalResult:
    """Metrics plus the most confidently misclassified examples (``texts(rows) -> list``)."""
    report = classification_metrics(probs, np.asarray(labels), label_names)
    examples = []
    if texts is not None and len(labels):
        predicted = probs.argmax(1)
        wrong = np.nonzero(predicted != labels)[0]
        confidence = probs[wrong, predicted[wrong]]
        shown = wrong[np.argsort(-confidence)][:MISCLASSIFIED_SHOWN]
        for i, text in zip(shown, texts(shown), strict=True):
            examples.append({
                "text": text if len(text) <= 400 else text[:400] + "…",
                "label": label_names[int(labels[i])],
                "predicted": label_names[int(predicted[i])],
                "probs": {n: float(p) for n, p in zip(label_names, probs[i], strict=True)},
            })
    metrics = {k: report[k] for k in ("loss", "accuracy", "macro_f1")}
    return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics,
                         label_names=list(label_names),
                         confusion_matrix=report["confusion_matrix"].tolist(),
                         per_class=report["per_class"], examples=examples)


def evaluate_data(model: ModelState, tokenizer, config, label_names: list[str], data: Any, *,
                  dp: DataParallel, step: int = 0) -> ev.EvalResult:
    """Evaluate on data outside the run's splits: every row of ``data`` is used.

    ``data``: anything ``jaxtext.data.load_data`` reads (a name, "csv:PATH", a DataFrame,
    (texts, labels), ...). Labels are matched to the run's classes by name.
    """
    texts, labels = all_rows(data, task=config.task, text_column=config.text_column,
                             label_column=config.label_column)
    if config.task == "lm":
        encoded = encode_texts(tokenizer, texts, None)
        sums = lm_sums(model, pack_lm(encoded, config.max_len), batch_size=config.batch_size,
                       dp=dp)
        return ev.EvalResult(split="data", epoch=0, step=step, metrics=language_model_metrics(
            sums["loss"], sums["count"], encoded.num_chars))
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted({str(x) for x in labels} - set(index))
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not classes of this run "
                        f"({', '.join(label_names)}); map them to these names first")
    ids = np.array([index[str(x)] for x in labels], np.int32)
    encoded = encode_texts(tokenizer, texts, config.max_len, ids)
    probs = predict_probs(model, encoded, num_classes=len(label_names),
                          batch_size=config.batch_size, max_len=config.max_len, dp=dp)
    return classification_result(probs, ids, label_names, "data", 0, step,
                                 texts=lambda rows: [texts[int(r)] for r in rows])
