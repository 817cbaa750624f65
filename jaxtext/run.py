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
from jaxtext.data.texts import encode_texts
from jaxtext.errors import (
    ConfigError,
    DataError,
    JaxtextError,
    RunFolderError,
    did_you_mean,
    shown,
)
from jaxtext.generate import generate
from jaxtext.history import History
from jaxtext.protocols import Dims
from jaxtext.training.evaluate import evaluate_data, evaluate_split, predict_probs
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState, TrainedState


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
        if self.test_report is None:
            raise JaxtextError("no test evaluation yet: call run.evaluate('test') first")
        return pd.DataFrame(self.test_report.confusion_matrix, index=self.label_names,
                            columns=self.label_names).rename_axis(index="true", columns="predicted")

    # -- using the model ---------------------------------------------------------------
    def predict(self, texts: str | list[str]) -> pd.DataFrame:
        """Labels and class probabilities: columns text, label, and one per class."""
        self._need_classifier("predict")
        texts = _texts_argument(texts)
        if not texts:
            return pd.DataFrame({"text": [], "label": [],
                                 **{name: np.zeros(0, np.float32) for name in self.label_names}})
        encoded = encode_texts(self.tokenizer, texts, self.config.max_len,
                               np.zeros(len(texts), np.int32))
        probs = predict_probs(self.model_state, encoded, num_classes=len(self.label_names),
                              batch_size=self.config.batch_size, max_len=self.config.max_len,
                              dp=self.dp)
        frame = pd.DataFrame({"text": texts,
                              "label": [self.label_names[i] for i in probs.argmax(1)]})
        for j, name in enumerate(self.label_names):
            frame[name] = probs[:, j]
        return frame

    def evaluate(self, data: Any = "test") -> dict[str, Any]:
        """Metrics on a split of the training data ('train'/'validation'/'test') or new data."""
        if isinstance(data, str) and data in ("train", "validation", "test"):
            result = evaluate_split(self.model_state, self._prepared(), data, dp=self.dp,
                                    step=self.steps)
        else:
            result = evaluate_data(self.model_state, self.tokenizer, self.config,
                                   self.label_names, data, dp=self.dp, step=self.steps)
        out = dict(result.metrics)
        if result.confusion_matrix is not None:
            out["confusion_matrix"] = np.asarray(result.confusion_matrix)
            out["per_class"] = pd.DataFrame(result.per_class).set_index("label")
        return out

    def generate(self, prompt: str = "", **kwargs):
        """Sample text from a language model (see ``jaxtext.generate.generate``)."""
        if self.task != "lm":
            raise ConfigError("generate() needs a language model: this run is a classifier "
                              "(task: classify); train one with task: lm")
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
                                "pass the data: run.evaluate(my_data)")
            self._data = prepare_data(self.config, tokenizer=self.tokenizer)
        return self._data

    def _need_classifier(self, what: str) -> None:
        if self.task != "classify":
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
    def summary(self) -> dict[str, Any]:
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
                       for k, v in self.summary().items() if k != "test")
        rows += "".join(f"<tr><th style='text-align:left'>test {html.escape(k)}</th>"
                        f"<td style='text-align:left'>{v:.4f}</td></tr>"
                        for k, v in self.test_metrics.items())
        table = ""
        if self.task == "classify" and self.test_report is not None:
            table = self.confusion_matrix.to_html()
        return f"<div><b>jaxtext run</b><table>{rows}</table>{table}</div>"


def _texts_argument(texts: Any) -> list[str]:
    """``predict``'s argument as a list of texts, or one ConfigError naming what it got."""
    if isinstance(texts, str):
        return [texts]
    usage = "predict takes a text or a list of texts"
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise ConfigError(f"{usage}, not {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"{usage}, not a list holding {type(text).__name__} (item {i}: "
                              f"{shown(text)}); convert with str() or drop it")
    return texts


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
