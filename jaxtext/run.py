"""A trained run, the product: config, weights, tokenizer and history; predict, evaluate,
generate, save.

A ``Run`` is made from a ``TrainedState`` (what training returns and what loading reads) and
nothing writes into it afterwards: how it ended, its test metrics and timing are read off its
``History``. Evaluation and generation are functions of model state + tokenizer
(``jaxtext.training.evaluate``, ``jaxtext.generate``); the run only hands them its parts.
"""

from __future__ import annotations

import html
import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jaxtext import checkpoint
from jaxtext import events as ev
from jaxtext.config import Config
from jaxtext.data.prepare import prepare_data
from jaxtext.data.texts import encode_texts, pair_of
from jaxtext.errors import (
    ConfigError,
    DataError,
    JaxtextError,
    RunFolderError,
    did_you_mean,
    shown,
    text_list,
)
from jaxtext.generate import generate
from jaxtext.history import History
from jaxtext.model_summary import ModelSummary, summarize
from jaxtext.protocols import Dims
from jaxtext.training.evaluate import (
    classify_probs,
    evaluate_data,
    evaluate_split,
    predict_probs,
    ranked_examples,
)
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState, TrainedState
from jaxtext.training.task_results import decision_threshold, unstandardize


class Run:
    """What ``jaxtext.train`` returns and ``jaxtext.load`` restores."""

    def __init__(self, trained: TrainedState, saved_to: Path | None = None):
        self.trained = trained
        self.saved_to = saved_to  # the folder this run was saved to or loaded from
        self._data = trained.data  # tokenized splits, prepared again on demand after a load
        self.dp = DataParallel()

    # -- what the run is ---------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self.trained.config

    @property
    def tokenizer(self):
        return self.trained.tokenizer

    @property
    def label_names(self) -> list[str]:
        return list(self.trained.label_names)

    @property
    def dims(self) -> Dims:
        return self.trained.dims

    @property
    def model_state(self) -> ModelState:
        """The weights as plain state (graph definitions, params, the rest)."""
        return self.trained.model

    @property
    def opt_state(self) -> Any:
        return self.trained.opt_state

    @property
    def record(self) -> History:
        """The folded event stream of training (what the dashboard and summary show)."""
        return self.trained.history

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def name(self) -> str:
        begin = self.record.begin
        return begin.run_name if begin is not None else (self.config.name or self.config.model)

    @property
    def status(self) -> str:
        """'completed', 'early_stopped', 'interrupted' or 'failed' ('checkpoint': mid-run)."""
        end = self.record.end
        return end.status if end is not None else "checkpoint"

    @property
    def steps(self) -> int:
        """Steps trained."""
        return self.trained.step

    @property
    def total_steps(self) -> int:
        return self.trained.total_steps

    @property
    def timing(self) -> dict[str, float]:
        end = self.record.end
        return dict(end.timing) if end is not None else {}

    @property
    def test_report(self) -> ev.EvalResult | None:
        """The test-split evaluation made when training ended (None if it did not get there)."""
        return self.record.evals.get("test")

    @property
    def task_params(self) -> dict[str, float]:
        """What the task keeps beyond the weights: regression's ``target_mean`` and
        ``target_std``, multilabel's tuned ``threshold`` (empty for classify and lm)."""
        return dict(self.trained.task_params)

    @property
    def threshold(self) -> float | None:
        """multilabel: the probability a label needs (the config's, or the tuned one)."""
        if self.task != "multilabel":
            return None
        return decision_threshold(self.config.threshold, self.trained.task_params)

    @property
    def model(self):
        """The Flax NNX module with the trained weights (in eval mode)."""
        return self.model_state.module()

    @property
    def num_params(self) -> int:
        return self.model_state.num_params

    @property
    def history(self) -> pd.DataFrame:
        """One row per log (kind='train') and per epoch (kind='validation')."""
        return self.record.frame()

    @property
    def test_metrics(self) -> dict[str, float]:
        return dict(self.test_report.metrics) if self.test_report is not None else {}

    @property
    def confusion_matrix(self) -> pd.DataFrame:
        """Test-split confusion matrix: rows = true label, columns = predicted label."""
        self._need_classifier("confusion_matrix")
        if self.task != "classify":
            raise ConfigError(f"confusion_matrix is for task: classify; this run's task is "
                              f"{self.task}: see run.test_metrics and run.evaluate()")
        if self.test_report is None:
            raise JaxtextError("no test evaluation yet: call run.evaluate('test') first")
        return pd.DataFrame(self.test_report.confusion_matrix, index=self.label_names,
                            columns=self.label_names).rename_axis(index="true", columns="predicted")

    # -- using the model ---------------------------------------------------------------
    def predict(self, texts: str | list[str]) -> pd.DataFrame:
        """One row per text. classify: columns text, label, and one probability per class;
        regression: text, prediction (in the data's units); multilabel: text, labels (the
        list of labels at the run's threshold), and one probability per label. A pair task
        (``text_pair``) takes ``(text, text_pair)`` tuples and adds a text_pair column."""
        if self.task == "lm":
            self._need_classifier("predict")
        pairs = bool(self.config.text_pair)
        texts = _pairs_argument(texts) if pairs else text_list(texts)
        outputs = np.zeros((0, self.dims.num_outputs), np.float32)
        if texts:
            encoded = encode_texts(self.tokenizer, texts, self.config.max_len,
                                   np.zeros(len(texts), np.int32), self.config.truncate)
            outputs = predict_probs(self.model_state, encoded, num_classes=self.dims.num_outputs,
                                    batch_size=self.config.batch_size,
                                    max_len=self.config.max_len, dp=self.dp, task=self.task)
        frame = prediction_frame(texts, outputs, self.task, self.label_names, self.task_params,
                                 self.config.threshold)
        if pairs:  # a pair task: the two texts side by side
            frame["text"] = [a for a, _ in texts]
            frame.insert(1, "text_pair", [b for _, b in texts])
        return frame

    def evaluate(self, data: Any = "test") -> dict[str, Any]:
        """Metrics on a split of the training data ('train'/'validation'/'test') or new data."""
        if isinstance(data, str) and data in ("train", "validation", "test"):
            result = evaluate_split(self.model_state, self._prepared(), data, dp=self.dp,
                                    step=self.steps, task_params=self.task_params)
        else:
            result = evaluate_data(self.model_state, self.tokenizer, self.config,
                                   self.label_names, data, dp=self.dp, step=self.steps,
                                   task_params=self.task_params)
        out = dict(result.metrics)
        if result.confusion_matrix is not None:
            out["confusion_matrix"] = np.asarray(result.confusion_matrix)
        if result.per_class:
            out["per_class"] = pd.DataFrame(result.per_class).set_index("label")
        return out

    def top_losses(self, k: int = 10, split: Any = "test") -> pd.DataFrame:
        """The ``k`` examples the model gets most wrong, highest loss first: columns text,
        true, predicted, probability (of the prediction) and loss (``-log p(true)``).

        ``split``: one of the run's splits ('train', 'validation', 'test') or new labelled
        data, as ``evaluate`` takes it. The dashboard's "most confident mistakes" are the
        same ranking, kept to the wrong predictions.
        """
        self._need_classifier("top_losses")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ConfigError(f"top_losses takes k, a count of examples >= 0, not {shown(k)}")
        if isinstance(split, str) and split in ("train", "validation", "test"):
            encoded = self._prepared().encoded[split]
            probs = predict_probs(self.model_state, encoded, num_classes=len(self.label_names),
                                  batch_size=self.config.batch_size,
                                  max_len=self.config.max_len, dp=self.dp)
            labels, texts = encoded.labels, encoded.texts
        else:
            probs, labels, every_text = classify_probs(
                self.model_state, self.tokenizer, self.config, self.label_names, split,
                dp=self.dp)
            texts = lambda rows: [every_text[int(r)] for r in rows]  # noqa: E731
        rows = ranked_examples(probs, labels, self.label_names, texts, int(k))
        columns = ["text", "true", "predicted", "probability", "loss"]
        return pd.DataFrame([{c: row[c] for c in columns} for row in rows], columns=columns)

    def generate(self, prompt: str = "", **kwargs):
        """Sample text from a language model (see ``jaxtext.generate.generate``)."""
        if self.task != "lm":
            what = {"classify": "a classifier", "regression": "a regression model",
                    "multilabel": "a multi-label classifier"}.get(self.task, self.task)
            raise ConfigError(f"generate() needs a language model: this run is {what} "
                              f"(task: {self.task}); train one with task: lm")
        options = set(inspect.signature(generate).parameters) - {
            "model", "tokenizer", "prompt", "max_len", "name"}
        for key in kwargs:
            if key not in options:
                raise ConfigError(f"generate() has no option {shown(key)}"
                                  f"{did_you_mean(key, options)}; options: "
                                  f"{', '.join(sorted(options))}")
        return generate(self.model_state, self.tokenizer, prompt, max_len=self.dims.max_len,
                        name=self.config.model, **kwargs)

    def _prepared(self):
        """The run's own splits, tokenized with its tokenizer (kept after the first call)."""
        if self._data is None:
            if not isinstance(self.config.data, str) or self.config.data.startswith("<"):
                raise DataError("this run was trained on in-memory data that is not saved; "
                                "pass the data: run.evaluate(my_data), "
                                "run.top_losses(split=my_data)")
            self._data = prepare_data(self.config, tokenizer=self.tokenizer)
        return self._data

    def _need_classifier(self, what: str) -> None:
        """A language model cannot predict per text (the other tasks can)."""
        if self.task == "lm":
            raise ConfigError(f"{what}() is for classifiers; this run is a language model "
                              "(task: lm): use run.generate() or run.evaluate()")

    # -- files -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the run to a folder (see jaxtext.checkpoint); ``jaxtext.load`` reads it back."""
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"save takes a folder path, not {type(path).__name__}")
        try:
            return checkpoint.write_run(Path(path), self.trained)
        except RunFolderError:
            raise
        except OSError as err:  # e.g. a file where a folder of the path should be
            raise RunFolderError(f"cannot save the run to {path}: "
                                 f"{err.strerror or type(err).__name__}") from None

    def export(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``jax.export`` functions + weights + tokenizer + manifest that
        ``jaxtext.load_exported`` (jax, numpy, tokenizers only) predicts with bit-equal to
        ``predict`` (a classifier) or samples with as ``generate`` does (a language model);
        an existing export is replaced only with ``overwrite``."""
        from jaxtext.export import write_export

        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"export takes a folder path, not {type(path).__name__}")
        try:
            return write_export(Path(path), self._export_files(), overwrite=overwrite)
        except RunFolderError:
            raise
        except OSError as err:
            raise RunFolderError(f"cannot export the run to {path}: "
                                 f"{err.strerror or type(err).__name__}") from None

    def _export_files(self) -> dict[str, bytes]:
        from jaxtext.export import export_files

        devices = self.dp.num_devices  # predict's batches: batch_size rounded up to the devices
        rows = -(-self.config.batch_size // devices) * devices
        return export_files(self.trained, batch_rows=rows)

    # -- display -----------------------------------------------------------------------
    def summary(self) -> ModelSummary:
        """Parameters per layer with their shapes, and the bytes of the weights and of the
        optimizer state (a table in a notebook; ``.frame()`` for a DataFrame)."""
        return summarize(self.model_state, self.opt_state, self.config.model)

    def _overview(self) -> dict[str, Any]:
        """What the run is, in a few rows (its notebook view)."""
        return {"name": self.name, "task": self.task, "model": self.config.model,
                "data": self.config.to_dict()["data"], "params": self.num_params,
                "status": self.status, "steps": self.steps, "test": self.test_metrics}

    def __repr__(self) -> str:
        test = ", ".join(f"{k}={v:.4f}" for k, v in self.test_metrics.items())
        if test and self.test_report.sampled:
            test += f" (a sample of {self.test_report.sampled:,})"
        return (f"<Run {self.name}: {self.config.model} on {self.config.to_dict()['data']}, "
                f"{self.status}, {self.steps} steps{', test ' + test if test else ''}>")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td style='text-align:left'>{html.escape(_fmt(v))}</td></tr>"
                       for k, v in self._overview().items() if k != "test")
        rows += "".join(f"<tr><th style='text-align:left'>test {html.escape(k)}</th>"
                        f"<td style='text-align:left'>{v:.4f}</td></tr>"
                        for k, v in self.test_metrics.items())
        table = ""
        if self.task == "classify" and self.test_report is not None:
            table = self.confusion_matrix.to_html()
        return f"<div><b>jaxtext run</b><table>{rows}</table>{table}</div>"


def prediction_frame(texts: list[str], outputs: np.ndarray, task: str, label_names: list[str],
                     task_params: dict[str, float], threshold: float | str) -> pd.DataFrame:
    """``predict``'s table from the eval step's outputs float[N, K] (see ``Run.predict``)."""
    if task == "regression":
        return pd.DataFrame({"text": texts,
                             "prediction": unstandardize(outputs[:, 0], task_params)})
    if task == "multilabel":
        cut = decision_threshold(threshold, task_params)
        labels = [[n for n, p in zip(label_names, row, strict=True) if p >= cut]
                  for row in outputs]
        frame = pd.DataFrame({"text": texts, "labels": pd.Series(labels, dtype=object)})
    else:
        frame = pd.DataFrame({"text": texts,
                              "label": [label_names[i] for i in outputs.argmax(1)]})
    for j, name in enumerate(label_names):
        frame[name] = outputs[:, j]
    return frame


def _pairs_argument(texts: Any) -> list[tuple[str, str]]:
    """A pair task's ``predict`` argument as a list of (text, text_pair) tuples."""
    if isinstance(texts, tuple) and len(texts) == 2 and all(isinstance(t, str) for t in texts):
        return [texts]
    if isinstance(texts, (str, bytes, dict)) or not hasattr(texts, "__iter__"):
        raise ConfigError("this run reads pairs of texts: predict takes a (text, text_pair) "
                          f"tuple or a list of them, not {type(texts).__name__}")
    try:
        return [pair_of(item) for item in texts]
    except DataError as err:
        raise ConfigError(str(err)) from None


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
