"""One frozen, typed config for a run, built from a cell body, CLI flags or keyword args.

Core keys are the fields of ``Config``; model-specific keys (``hidden``, ``layers``...) are
the fields of the chosen model's own ``Config`` dataclass and end up in ``Config.model_args``.
Unknown keys, wrong types and impossible values raise one ``ConfigError`` with a suggestion.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from jaxtext.errors import ConfigError, did_you_mean
from jaxtext.protocols import check_model_for

TASKS = ("classify", "lm")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "linear", "constant")


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Derived values (vocab size, classes) are not stored here."""

    model: str = "mlp"  # registered model name (see `jaxtext list`)
    data: Any = "imdb"  # dataset name, "hf:NAME[:CONFIG]", "csv:PATH", ... or an in-memory dataset
    task: str = "classify"  # "classify" or "lm" (next-token language model)
    text_column: str = "text"  # column holding the text
    label_column: str = "label"  # column holding the label (classify)
    tokenizer: str = "word"  # "word", "char" or "bpe"
    vocab_size: int = 30000  # largest vocabulary the tokenizer may learn
    max_len: int = 256  # classify: tokens kept per text; lm: sequence length (context)
    lowercase: bool = True  # lowercase text before word/bpe tokenization
    epochs: int = 3  # passes over the training split
    batch_size: int = 64  # examples per step (across all devices)
    lr: float = 2e-3  # peak learning rate
    optimizer: str = "adamw"  # "adamw", "adam" or "sgd"
    weight_decay: float = 0.01  # decoupled weight decay (adamw) / L2 (sgd)
    schedule: str = "cosine"  # "cosine", "linear" or "constant" decay after warmup
    warmup: float = 0.05  # warmup, as a fraction of all steps
    grad_clip: float = 1.0  # clip gradients to this global norm; 0 disables
    seed: int = 0  # seed for init, shuffling, dropout and `limit` (test splits are fixed)
    log_every: int = 50  # steps between metric fetches / progress updates
    early_stopping: int = 0  # stop after this many epochs without improvement; 0 disables
    monitor: str = ""  # validation metric for early stopping / best weights ("" = task default)
    limit: int = 0  # use at most this many training examples (quick experiments); 0 = all
    prompt: str = ""  # lm: prompt for the samples shown at each epoch end
    sample_tokens: int = 200  # lm: tokens sampled at each epoch end
    name: str = ""  # run name shown in the dashboard ("" = derived)
    model_args: Any = field(default=None, compare=True)  # the model's own frozen Config

    @property
    def monitor_metric(self) -> str:
        return self.monitor or ("accuracy" if self.task == "classify" else "loss")

    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready dict: core keys plus the model's keys (as accepted by from_dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model_args"}
        if not isinstance(out["data"], str):
            out["data"] = describe_data(out["data"])
        if self.model_args is not None:
            out.update(dataclasses.asdict(self.model_args))
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, **kwargs: Any) -> Config:
        """Validate and build a Config; model keys go to the model's Config class."""
        from jaxtext.registry import models

        raw = {**(values or {}), **kwargs}
        core_names = {f.name for f in fields(cls)} - {"model_args"}
        model_name = raw.get("model", cls.model)
        model_cls = models.get(model_name)
        # A model may suggest training settings for a task (e.g. its own lr); explicit keys win.
        suggested = getattr(model_cls, "training_defaults", None)
        if callable(suggested):
            suggested = suggested(raw.get("task", cls.task))
        raw = {**(suggested or {}), **raw}
        model_config_cls = getattr(model_cls, "Config", None)
        model_names = {f.name for f in fields(model_config_cls)} if model_config_cls else set()

        core, model_kw = {}, {}
        for key, value in raw.items():
            if key in core_names:
                core[key] = value
            elif key in model_names:
                model_kw[key] = value
            else:
                known = sorted(core_names | model_names)
                hint = did_you_mean(key, known)
                raise ConfigError(
                    f"unknown config key '{key}'{hint}"
                    + ("" if hint else f"; keys for model '{model_name}': {', '.join(known)}")
                )
        core = {k: _check_type(cls, k, v) for k, v in core.items()}
        model_args = None
        if model_config_cls is not None:
            model_kw = {k: _check_type(model_config_cls, k, v) for k, v in model_kw.items()}
            try:
                model_args = model_config_cls(**model_kw)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"model '{model_name}': {e}") from None
        config = cls(**core, model_args=model_args)
        config.validate()
        check_model_for(model_name, model_cls, config.task, samples=config.sample_tokens > 0)
        return config

    def replace(self, **changes: Any) -> Config:
        """A new validated Config with some keys changed (model keys allowed)."""
        return Config.from_dict({**self.to_dict(), "data": self.data, **changes})

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(self.task in TASKS, f"task must be one of {', '.join(TASKS)}, not '{self.task}'"
             + did_you_mean(self.task, TASKS))
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
             f"not '{self.optimizer}'" + did_you_mean(self.optimizer, OPTIMIZERS))
        need(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, "
             f"not '{self.schedule}'" + did_you_mean(self.schedule, SCHEDULES))
        for key in ("epochs", "batch_size", "max_len", "vocab_size", "log_every"):
            need(getattr(self, key) >= 1, f"{key} must be at least 1, got {getattr(self, key)}")
        need(self.vocab_size >= 4, f"vocab_size must be at least 4, got {self.vocab_size}")
        for key in ("lr", "weight_decay", "warmup", "grad_clip"):
            need(math.isfinite(getattr(self, key)),
                 f"{key} must be a finite number, got {getattr(self, key)}")
        need(self.lr > 0, f"lr must be positive, got {self.lr}")
        need(0 <= self.warmup < 1, f"warmup is a fraction of all steps in [0, 1), got {self.warmup}")
        for key in ("weight_decay", "grad_clip", "early_stopping", "limit", "sample_tokens"):
            need(getattr(self, key) >= 0, f"{key} must not be negative, got {getattr(self, key)}")
        classify_metrics = ("accuracy", "macro_f1", "loss")
        lm_metrics = ("loss", "perplexity", "bits_per_char")
        allowed = classify_metrics if self.task == "classify" else lm_metrics
        need(not self.monitor or self.monitor in allowed,
             f"monitor for task '{self.task}' must be one of {', '.join(allowed)}, "
             f"not '{self.monitor}'" + did_you_mean(self.monitor, allowed))


def describe_data(data: Any) -> str:
    """A short text naming an in-memory dataset (for logs, JSON and saved configs)."""
    if isinstance(data, str):
        return data
    kind = type(data).__name__
    try:
        return f"<{kind} of {len(data)} rows>"
    except TypeError:
        return f"<{kind}>"


def _check_type(config_cls: type, key: str, value: Any) -> Any:
    """Coerce value to the declared type of ``key`` or raise a ConfigError naming both."""
    hint = typing.get_type_hints(config_cls).get(key, Any)
    if hint is Any:
        return value
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for expected in options:
        if expected is bool:
            if isinstance(value, bool):
                return value
            # YAML 1.2 reads yes/no/on/off as text; a bool key still takes those words
            word = value.lower() if isinstance(value, str) else None
            if word in ("true", "yes", "on", "false", "no", "off"):
                return word in ("true", "yes", "on")
        elif expected is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif expected is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif expected is str:
            if isinstance(value, str):
                return value
        elif isinstance(expected, type) and isinstance(value, expected):
            return value
    names = " or ".join(getattr(t, "__name__", str(t)) for t in options)
    raise ConfigError(f"config key '{key}' must be {names}, got {value!r} ({type(value).__name__})")
