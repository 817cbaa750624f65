"""Evaluate a run on a prepared split: one jitted eval step per batch, one fetch at the end."""

from __future__ import annotations

import jax
import numpy as np

from jaxtext import events as ev
from jaxtext.data.batching import classify_batches, lm_batches
from jaxtext.training.metrics import classification_metrics, language_model_metrics
from jaxtext.training.steps import eval_step_fn

MISCLASSIFIED_SHOWN = 5


def predict_probs(run, encoded_split) -> np.ndarray:
    """float32[N, C] class probabilities for every example of an encoded split, in order."""
    dp, cfg = run.dp, run.config
    step = eval_step_fn(run.parts, "classify")
    outputs, indices = [], []
    batches = classify_batches(encoded_split, cfg.batch_size, shuffle=False, seed=cfg.seed,
                               epoch=0, max_len=cfg.max_len, pad_to_multiple=dp.num_devices)
    for batch in batches:
        outputs.append(step(run.parts.params, run.parts.rest, dp.shard_batch(batch)))
        indices.append(batch.index)
    n = len(encoded_split)
    probs = np.zeros((n, run.dims.num_outputs), np.float32)
    if not outputs:
        return probs
    index = np.concatenate(indices)
    fetched = np.concatenate(jax.device_get(outputs))
    real = index >= 0
    probs[index[real]] = fetched[real]
    return probs


def evaluate_split(run, split: str, *, epoch: int = 0, step: int = 0) -> ev.EvalResult:
    prepared = run.prepared
    if run.config.task == "lm":
        sums = lm_sums(run, prepared.packed[split])
        metrics = language_model_metrics(sums["loss"], sums["count"], prepared.chars(split))
        return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics)
    encoded = prepared.encoded[split]
    probs = predict_probs(run, encoded)
    return classification_result(run, probs, encoded.labels, split, epoch, step,
                                 texts=encoded.texts)


def classification_result(run, probs, labels, split, epoch, step, texts=None) -> ev.EvalResult:
    """Metrics plus the most confidently misclassified examples (``texts(rows) -> list``)."""
    report = classification_metrics(probs, np.asarray(labels), run.label_names)
    examples = []
    if texts is not None and len(labels):
        predicted = probs.argmax(1)
        wrong = np.nonzero(predicted != labels)[0]
        confidence = probs[wrong, predicted[wrong]]
        shown = wrong[np.argsort(-confidence)][:MISCLASSIFIED_SHOWN]
        for i, text in zip(shown, texts(shown), strict=True):
            examples.append({
                "text": text if len(text) <= 400 else text[:400] + "…",
                "label": run.label_names[int(labels[i])],
                "predicted": run.label_names[int(predicted[i])],
                "probs": {n: float(p) for n, p in zip(run.label_names, probs[i], strict=True)},
            })
    metrics = {k: report[k] for k in ("loss", "accuracy", "macro_f1")}
    return ev.EvalResult(split=split, epoch=epoch, step=step, metrics=metrics,
                         label_names=list(run.label_names),
                         confusion_matrix=report["confusion_matrix"].tolist(),
                         per_class=report["per_class"], examples=examples)


def lm_sums(run, packed: np.ndarray) -> dict:
    """Summed NLL and token count over a packed LM split (device sums, one fetch)."""
    dp, cfg = run.dp, run.config
    step = eval_step_fn(run.parts, "lm")
    total = None
    batches = lm_batches(packed, cfg.batch_size, shuffle=False, seed=cfg.seed, epoch=0,
                         pad_to_multiple=dp.num_devices)
    for batch in batches:
        sums = step(run.parts.params, run.parts.rest, dp.shard_batch(batch))
        total = sums if total is None else jax.tree.map(lambda a, b: a + b, total, sums)
    if total is None:
        return {"loss": 0.0, "count": 0.0}
    return {k: float(v) for k, v in jax.device_get(total).items()}


def evaluate_encoded(run, data) -> ev.EvalResult:
    """Evaluate on data outside the run's splits: every row of ``data`` is used.

    ``data``: anything ``jaxtext.data.load_data`` reads (a name, "csv:PATH", a DataFrame,
    (texts, labels), ...). Labels are matched to the run's classes by name.
    """
    from jaxtext.errors import DataError

    cfg = run.config
    texts, labels = all_rows(data, task=cfg.task, text_column=cfg.text_column,
                             label_column=cfg.label_column)
    if cfg.task == "lm":
        from jaxtext.data.batching import pack_lm

        encoded = encode_texts(run.tokenizer, texts, None)
        sums = lm_sums(run, pack_lm(encoded, cfg.max_len))
        return ev.EvalResult(split="data", epoch=0, step=run.steps, metrics=language_model_metrics(
            sums["loss"], sums["count"], encoded.num_chars))
    index = {name: i for i, name in enumerate(run.label_names)}
    unknown = sorted({str(x) for x in labels} - set(index))
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not classes of this run "
                        f"({', '.join(run.label_names)}); map them to these names first")
    ids = np.array([index[str(x)] for x in labels], np.int32)
    encoded = encode_texts(run.tokenizer, texts, cfg.max_len, ids)
    probs = predict_probs(run, encoded)
    return classification_result(run, probs, ids, "data", 0, run.steps,
                                 texts=lambda rows: [texts[int(r)] for r in rows])


def encode_texts(tokenizer, texts: list[str], max_len: int | None, labels=None):
    """An EncodedSplit for texts outside any dataset (predict, evaluate on new data)."""
    from jaxtext.data.tokenizers import EncodedSplit

    rows = tokenizer.encode(texts, max_len)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    ids = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    chars = sum(len(t) for t in texts) + len(texts)
    return EncodedSplit(ids, offsets, labels, chars, None)


def all_rows(data, *, task: str, text_column: str, label_column: str):
    """(texts, labels by name) of every row of ``data``, whatever its form.

    In-memory tables are read directly (no splitting, so a handful of rows works);
    names and paths go through ``load_data`` and all three splits are used.
    """
    import datasets
    import pandas as pd

    from jaxtext.data.sources import load_data
    from jaxtext.errors import DataError

    if isinstance(data, tuple) and len(data) == 2:
        return [str(t) for t in data[0]], list(data[1])
    if isinstance(data, list) and task == "lm":
        return [str(t) for t in data], []
    if isinstance(data, (pd.DataFrame, dict, datasets.Dataset)):
        columns = data if not isinstance(data, pd.DataFrame) else {c: data[c] for c in data}
        names = list(columns.column_names if isinstance(data, datasets.Dataset) else columns)
        for column in (text_column,) + ((label_column,) if task == "classify" else ()):
            if column not in names:
                raise DataError(f"column '{column}' not found; columns: {', '.join(names)}")
        texts = [str(t) for t in columns[text_column]]
        if task != "classify":
            return texts, []
        labels = list(columns[label_column])
        if isinstance(data, datasets.Dataset):
            feature = data.features[label_column]
            if isinstance(feature, datasets.ClassLabel):
                labels = [feature.int2str(int(i)) for i in labels]
        return texts, labels
    loaded = load_data(data, task=task, text_column=text_column, label_column=label_column)
    texts, labels = [], []
    for split in loaded.splits.values():
        texts += list(split["text"])
        if task == "classify":
            labels += [loaded.label_names[int(i)] for i in split["label"]]
    return texts, labels
