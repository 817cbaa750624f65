"""A trained run: config, weights, tokenizer and history; predict, evaluate, save, load."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from jaxtext import checkpoint
from jaxtext.config import Config
from jaxtext.errors import ConfigError, DataError, JaxtextError
from jaxtext.models.base import Dims
from jaxtext.training.sharding import DataParallel
from jaxtext.training.steps import ModelParts


class Run:
    """What ``jaxtext.train`` returns and ``jaxtext.load`` restores."""

    def __init__(self, *, config: Config, tokenizer, label_names: list[str], dims: Dims,
                 parts: ModelParts, opt_state: Any = None, history=None, prepared=None):
        self.config = config
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.dims = dims
        self.parts = parts
        self.opt_state = opt_state
        self.prepared = prepared  # the tokenized data of the training session (not saved)
        self.name = config.name or config.model
        self.status = "created"
        self.steps = 0
        self.test_report = None  # EvalResult on the test split
        self.timing: dict[str, float] = {}
        self._history_rows = history.rows if history is not None else []
        self.dp = DataParallel()

    # -- state -------------------------------------------------------------------------
    def _set_state(self, params, rest, opt_state) -> None:
        self.parts = self.parts._replace(params=params, rest=rest)
        self.opt_state = opt_state

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def model(self):
        """The Flax NNX module with the trained weights (in eval mode)."""
        from flax import nnx

        return nnx.merge(self.parts.eval_graph, self.parts.params, self.parts.rest)

    @property
    def num_params(self) -> int:
        return int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.parts.params)))

    @property
    def history(self) -> pd.DataFrame:
        """One row per log (kind='train') and per epoch (kind='validation')."""
        return pd.DataFrame(self._history_rows)

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
        from jaxtext.training.evaluate import encode_texts, predict_probs

        self._need_classifier("predict")
        texts = [texts] if isinstance(texts, str) else list(texts)
        encoded = encode_texts(self.tokenizer, texts, self.config.max_len,
                               np.zeros(len(texts), np.int32))
        probs = predict_probs(self, encoded)
        frame = pd.DataFrame({"text": texts,
                              "label": [self.label_names[i] for i in probs.argmax(1)]})
        for j, name in enumerate(self.label_names):
            frame[name] = probs[:, j]
        return frame

    def evaluate(self, data: Any = "test") -> dict[str, Any]:
        """Metrics on a split of the training data ('train'/'validation'/'test') or new data."""
        from jaxtext.training.evaluate import evaluate_encoded, evaluate_split

        if isinstance(data, str) and data in ("train", "validation", "test"):
            if self.prepared is None:
                from jaxtext.training.prepare import prepare_data

                if not isinstance(self.config.data, str) or self.config.data.startswith("<"):
                    raise DataError("this run was trained on in-memory data that is not saved; "
                                    "pass the data: run.evaluate(my_data)")
                self.prepared = prepare_data(self.config, tokenizer=self.tokenizer)
            result = evaluate_split(self, data)
        else:
            result = evaluate_encoded(self, data)
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
        from jaxtext.generate import generate

        return generate(self, prompt, **kwargs)

    def _need_classifier(self, what: str) -> None:
        if self.task != "classify":
            raise ConfigError(f"{what}() is for classifiers; this run is a language model "
                              "(task: lm): use run.generate() or run.evaluate()")

    # -- files -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the run to a folder (see jaxtext.checkpoint for the format)."""
        from jaxtext.training.optim import OptimizerSpec

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        checkpoint.write_json(path / "config.json", self.config.to_dict())
        spec = OptimizerSpec.from_config(self.config, self.total_steps)
        checkpoint.write_json(path / "meta.json", {
            "format_version": checkpoint.FORMAT_VERSION, "name": self.name, "status": self.status,
            "steps": self.steps, "total_steps": spec.total_steps, "label_names": self.label_names,
            "dims": vars(self.dims), "timing": self.timing,
            "test": _event_dict(self.test_report)})
        checkpoint.write_json(path / "history.json", self._history_rows)
        self.tokenizer.save(path / "tokenizer.json")
        (path / "params.msgpack").write_bytes(checkpoint.state_bytes(self.parts.params))
        (path / "state.msgpack").write_bytes(
            checkpoint.tree_bytes({"rest": self.parts.rest, "opt_state": self.opt_state}))
        return path

    @property
    def total_steps(self) -> int:
        return getattr(self, "_total_steps", 0) or max(self.steps, 1)

    @classmethod
    def load(cls, path: str | Path) -> Run:
        from jaxtext import events as ev
        from jaxtext.data.tokenizers import TextTokenizer
        from jaxtext.training.optim import OptimizerSpec, make_optimizer
        from jaxtext.training.steps import split_model
        from jaxtext.training.trainer import build_model

        path = Path(path)
        if not (path / "config.json").exists():
            raise JaxtextError(f"no saved run at '{path}' (config.json missing); "
                               "save one with run.save(path)")
        meta = checkpoint.read_json(path / "meta.json")
        config = Config.from_dict(checkpoint.read_json(path / "config.json"))
        dims = Dims(**meta["dims"])
        parts = split_model(build_model(config, dims))
        params = checkpoint.restore_state(parts.params, (path / "params.msgpack").read_bytes())
        tx = make_optimizer(OptimizerSpec.from_config(config, meta["total_steps"]))
        template = {"rest": parts.rest, "opt_state": tx.init(params)}
        state = checkpoint.restore_tree(template, (path / "state.msgpack").read_bytes())
        run = cls(config=config, tokenizer=TextTokenizer.load(path / "tokenizer.json"),
                  label_names=meta["label_names"], dims=dims,
                  parts=parts._replace(params=params, rest=state["rest"]),
                  opt_state=state["opt_state"])
        run.name, run.status, run.steps = meta["name"], meta["status"], meta["steps"]
        run._total_steps = meta["total_steps"]
        run.timing = meta.get("timing", {})
        run._history_rows = checkpoint.read_json(path / "history.json")
        if meta.get("test"):
            run.test_report = ev.EvalResult(**meta["test"])
        return run

    # -- display -----------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "model": self.config.model,
                "data": self.config.to_dict()["data"], "params": self.num_params,
                "status": self.status, "steps": self.steps, "test": self.test_metrics}

    def __repr__(self) -> str:
        test = ", ".join(f"{k}={v:.4f}" for k, v in self.test_metrics.items())
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


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _event_dict(event) -> dict | None:
    if event is None:
        return None
    from dataclasses import asdict

    return asdict(event)
