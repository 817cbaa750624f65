"""One frozen, typed config for a run, built from a cell body, CLI flags or keyword args.

Core keys are the fields of ``Config``; model-specific keys (``hidden``, ``layers``...) are
the fields of the chosen model's own ``Config`` dataclass and end up in ``Config.model_args``.
Unknown keys, wrong types and impossible values raise one ``ConfigError`` with a suggestion.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from jaxtext.errors import ConfigError, did_you_mean, shown
from jaxtext.model_presets import preset_settings
from jaxtext.protocols import check_model_for
from jaxtext.tasks import REGRESSION_LOSSES, TASK_METRICS, TASKS
from jaxtext.truncation import TRUNCATIONS

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "f32", "bf16")
INT_LIMIT = 2**63  # every int key must fit in int64 (numpy, JAX and the PRNG take int64)


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Derived values (vocab size, classes) are not stored here."""

    model: str = "mlp"  # registered model name (see `jaxtext list`)
    preset: str = ""  # settings the model names for its task, e.g. "accurate" (help MODEL)
    data: Any = "imdb"  # dataset name, "hf:NAME[:CONFIG]", "csv:PATH", ... or an in-memory dataset
    task: str = "classify"  # "classify", "lm" (next-token), "regression" or "multilabel"
    text_column: str = "text"  # column holding the text
    label_column: str = "label"  # column holding the label (a class, number or list of labels)
    text_pair: str = ""  # second text column of a pair task, read as "text <eos> text_pair"
    loss: str = ""  # regression: "mse" (default), "mae" or "huber"
    threshold: float | str = 0.5  # multilabel: probability a label needs, or "tune" (validation)
    tokenizer: str = "word"  # "word", "char" or "bpe"
    vocab_size: int = 30000  # largest vocabulary the tokenizer may learn
    max_len: int = 256  # classify: tokens kept per text; lm: sequence length (context)
    truncate: str = "head"  # per-text tasks, longer texts: keep "head", "tail" or "head_tail"
    lowercase: bool = True  # lowercase text before word/bpe tokenization
    epochs: int = 3  # passes over the training split
    batch_size: int = 64  # examples per step (across all devices)
    accumulate: int = 1  # sum gradients of this many batches per update (batch_size x N per step)
    precision: str = "auto"  # "f32", "bf16" (f32 weights, bf16 compute) or "auto" (bf16 on GPU/TPU)
    lr: float = 2e-3  # peak learning rate ("suggested" in train: the LR finder's rate)
    optimizer: str = "adamw"  # "adamw", "adam" or "sgd"
    weight_decay: float = 0.01  # decoupled weight decay (adamw) / L2 (sgd)
    schedule: str = "cosine"  # "cosine", "linear" or "constant" decay after warmup
    warmup: float = 0.05  # warmup, as a fraction of all steps
    grad_clip: float = 1.0  # clip gradients to this global norm; 0 disables
    seed: int = 0  # seed for init, shuffling, dropout and `limit` (test splits are fixed)
    log_every: int = 0  # steps between metric fetches (0 = about every half second)
    early_stopping: int = 0  # stop after this many epochs without improvement; 0 disables
    monitor: str = ""  # validation metric for early stopping / best weights ("" = task default)
    limit: int = 0  # use at most this many training examples (quick experiments); 0 = all
    eval_limit: int = 0  # score validation/test on a fixed sample of this many; 0 = all
    stream: bool = False  # lm, classify: read `data` lazily (larger than memory), never load it
    steps_per_epoch: int = 0  # stream: steps that make an epoch (0 = about one pass of local files)
    stream_sample: int = 10000  # stream: texts the tokenizer (and label names) learn from
    stream_holdout: int = 1000  # stream: the first N texts are validation, the next N test
    prompt: str = ""  # lm: prompt of the samples shown while training ("" = a validation text's start)
    sample_tokens: int = 200  # lm: tokens sampled at each epoch end
    sample_every: int = 0  # lm: also sample every N steps (0 = only at epoch ends)
    name: str = ""  # run name shown in the dashboard ("" = derived)
    out: str = ""  # folder to save the run in, with its checkpoints ("" = only when checkpointing)
    checkpoint_every: int | str = 0  # checkpoint every N steps or a duration ("10min"); 0 = never
    keep_checkpoints: int = 3  # newest step checkpoints kept (the best one is kept too)
    resume: str = ""  # continue the run in this folder from its latest checkpoint
    init: Any = None  # start from this run's weights (a Run or a run folder), a new schedule
    overwrite: bool = False  # let an unfinished run replace a finished one in `out`
    model_args: Any = field(default=None, compare=True)  # the model's own frozen Config

    @property
    def monitor_metric(self) -> str:
        return self.monitor or TASK_METRICS[self.task][0]

    @property
    def checkpoint_interval(self) -> tuple[int, float]:
        """(steps, seconds) between checkpoints; (0, 0.0) when checkpointing is off."""
        return parse_interval(self.checkpoint_every)

    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready dict: core keys plus the model's keys (as accepted by from_dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model_args"}
        if not isinstance(out["data"], str):
            out["data"] = describe_data(out["data"])
        if out["init"] is not None and not isinstance(out["init"], str):
            out["init"] = describe_data(out["init"])
        if self.model_args is not None:
            out.update(dataclasses.asdict(self.model_args))
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, **kwargs: Any) -> Config:
        """Validate and build a Config; model keys go to the model's Config class."""
        from jaxtext.registry import models

        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(f"config must be a dict of keys such as {{'epochs': 2}}, not "
                              f"{type(values).__name__}")
        raw = {**(values or {}), **kwargs}
        for key in raw:
            if not isinstance(key, str):
                raise ConfigError(f"config keys are names such as 'epochs', not {shown(key)}")
        core_names = {f.name for f in fields(cls)} - {"model_args"}
        model_name = raw.get("model", cls.model)
        model_cls = models.get(model_name)
        # A model may suggest training settings for a task (e.g. its own lr), then a preset
        # chosen by name its own; explicit keys win over both.
        task = raw.get("task", cls.task)
        suggested = getattr(model_cls, "training_defaults", None)
        if callable(suggested):
            suggested = suggested(task)
        preset = preset_settings(model_cls, model_name, task, raw.get("preset", ""))
        raw = {**(suggested or {}), **preset, **raw}
        model_config_cls = getattr(model_cls, "Config", None)
        model_names = {f.name for f in fields(model_config_cls)} if model_config_cls else set()

        core, model_kw = {}, {}
        for key, value in raw.items():
            if key in core_names:
                core[key] = value
            elif key in model_names:
                model_kw[key] = value
            else:
                hint = did_you_mean(key, sorted(core_names | model_names))
                own = ", ".join(sorted(model_names)) or "none"
                raise ConfigError(
                    f"unknown config key {shown(key)}{hint}"
                    + ("" if hint else f"; keys for model '{model_name}': {own}; the core keys: "
                       "`python -m jaxtext help` or `%jaxtext help`")
                )
        core = {k: _check_type(cls, k, v) for k, v in core.items()}
        model_args = None
        if model_config_cls is not None:
            model_kw = {k: _check_type(model_config_cls, k, v) for k, v in model_kw.items()}
            try:
                model_args = model_config_cls(**model_kw)
            except (TypeError, ValueError, OverflowError) as e:
                raise ConfigError(f"model '{model_name}': {str(e)[:200]}") from None
        config = cls(**core, model_args=model_args)
        config.validate()
        check_model_for(model_name, model_cls, config.task, samples=config.sample_tokens > 0)
        return config

    def replace(self, **changes: Any) -> Config:
        """A new validated Config with some keys changed (model keys allowed).

        A new ``preset`` applies its settings over this config's values (the other changes
        still win): every value here counts as given, so it would otherwise change nothing.
        """
        current = {**self.to_dict(), "data": self.data, "init": self.init}
        if changes.get("preset", self.preset) != self.preset:
            from jaxtext.registry import models

            model = changes.get("model", self.model)
            current.update(preset_settings(models.get(model), model,
                                           changes.get("task", self.task), changes["preset"]))
        return Config.from_dict({**current, **changes})

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(self.task in TASKS, f"task must be one of {', '.join(TASKS)}, not "
             f"{shown(self.task)}" + did_you_mean(self.task, TASKS))
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
             f"not {shown(self.optimizer)}" + did_you_mean(self.optimizer, OPTIMIZERS))
        need(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, "
             f"not {shown(self.schedule)}" + did_you_mean(self.schedule, SCHEDULES))
        need(0 <= self.seed < INT_LIMIT,
             f"seed must be in 0 <= seed < 2**63, got {shown(self.seed)}; pick e.g. seed: 0")
        need(self.truncate in TRUNCATIONS, f"truncate must be one of {', '.join(TRUNCATIONS)} "
             f"(which tokens of a text longer than max_len are kept), not "
             f"{shown(self.truncate)}" + did_you_mean(self.truncate, TRUNCATIONS))
        need(self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, "
             f"not {shown(self.precision)}" + did_you_mean(self.precision, PRECISIONS))
        for key in ("epochs", "batch_size", "accumulate", "max_len", "vocab_size"):
            need(getattr(self, key) >= 1, f"{key} must be at least 1, got {getattr(self, key)}")
        need(self.vocab_size >= 4, f"vocab_size must be at least 4, got {self.vocab_size}")
        for key in ("lr", "weight_decay", "warmup", "grad_clip"):
            need(math.isfinite(getattr(self, key)),
                 f"{key} must be a finite number, got {getattr(self, key)}")
        need(self.lr > 0, f"lr must be positive, got {self.lr}")
        need(0 <= self.warmup < 1, f"warmup is a fraction of all steps in [0, 1), got {self.warmup}")
        need(self.keep_checkpoints >= 1,
             f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}")
        parse_interval(self.checkpoint_every)  # raises its own one-line error
        need(not (self.resume and self.init is not None),
             "resume continues a run, init starts a new one from its weights: give one of them")
        for key in ("weight_decay", "grad_clip", "early_stopping", "limit", "sample_tokens",
                    "log_every", "eval_limit", "sample_every", "steps_per_epoch"):
            need(getattr(self, key) >= 0, f"{key} must not be negative, got {getattr(self, key)}")
        self._validate_stream(need)
        allowed = TASK_METRICS[self.task]
        need(not self.monitor or self.monitor in allowed,
             f"monitor for task '{self.task}' must be one of {', '.join(allowed)}, "
             f"not {shown(self.monitor)}" + did_you_mean(self.monitor, allowed))
        if self.task == "regression":
            need(self.loss in ("", *REGRESSION_LOSSES),
                 f"loss for task 'regression' must be one of {', '.join(REGRESSION_LOSSES)}, "
                 f"not {shown(self.loss)}" + did_you_mean(self.loss, REGRESSION_LOSSES))
        else:
            need(not self.loss, f"the loss key chooses a regression loss; task '{self.task}' "
                 "has one loss: drop the key or set task: regression")
        need(not (self.text_pair and self.task == "lm"), "text_pair names the second text of "
             "each example of a per-text task (classify, regression, multilabel); an lm reads "
             "one text column: drop text_pair")
        need(self.truncate == "head" or self.task != "lm", "truncate picks which tokens of a "
             "long text a per-text task reads; an lm reads whole texts in max_len windows: drop "
             "truncate")
        if isinstance(self.threshold, str):
            need(self.threshold == "tune", f"threshold must be a probability such as 0.5 or "
                 f"'tune' (the best micro-F1 on validation), not {shown(self.threshold)}")
        else:
            need(0 < self.threshold < 1, f"threshold must be between 0 and 1 (exclusive), "
                 f"got {self.threshold}; or 'tune'")

    def _validate_stream(self, need) -> None:
        for key in ("stream_sample", "stream_holdout"):
            need(getattr(self, key) >= 1, f"{key} must be at least 1, got {getattr(self, key)}")
        if not self.stream:
            need(not self.steps_per_epoch, "steps_per_epoch sets the length of an epoch over a "
                 "stream: add stream: true, or drop it (an epoch is one pass over the data)")
            return
        need(self.task in ("lm", "classify") and not self.text_pair, f"stream: true streams "
             f"a language model's or a classifier's corpus; task '{self.task}'"
             f"{' with text_pair' if self.text_pair else ''} needs its data in memory: drop "
             "stream")
        need(not self.limit, "limit caps a dataset held in memory; with stream: true set "
             "steps_per_epoch (and epochs) to bound training")


_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(steps?|s|sec|min|h)?\s*$")


def parse_interval(value: int | str) -> tuple[int, float]:
    """``checkpoint_every`` -> (steps, seconds): ``500`` or "500 steps" -> (500, 0.0),
    "10min" -> (0, 600.0), ``0`` -> (0, 0.0) (off).

    >>> parse_interval(500), parse_interval("30s"), parse_interval("1.5h")
    ((500, 0.0), (0, 30.0), (0, 5400.0))
    """
    text = value if isinstance(value, str) else shown(value)
    match = _INTERVAL.match(text) if isinstance(value, (int, str)) else None
    steps = match is not None and match.group(2) in (None, "step", "steps")
    if not match or (steps and "." in match.group(1)) or len(match.group(1)) > 18:
        raise ConfigError(f"checkpoint_every must be a number of steps or a duration such as "
                          f"'10min', '30s' or '1h', not {shown(value)}")
    number, unit = match.groups()
    if steps:
        return int(number), 0.0
    return 0, float(number) * _UNITS[unit]


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
    """Coerce value to the declared type of ``key`` or raise a ConfigError naming both.

    Ints must fit in int64 (``INT_LIMIT``): numpy, JAX and the PRNG take nothing larger.
    """
    try:
        hint = typing.get_type_hints(config_cls).get(key, Any)
    except Exception:  # a plugin's unresolvable annotation: take the value as it is
        return value
    if hint is Any:
        return value
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if union else (hint,)
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
            number = None  # numpy ints count (numpy's bool is not Integral; bool is refused)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                number = int(value)
            elif isinstance(value, float) and value.is_integer():
                number = int(value)
            if number is not None:
                if not -INT_LIMIT <= number < INT_LIMIT:
                    side = "below 2**63" if number > 0 else "at least -2**63"
                    raise ConfigError(f"{key} must be {side} (a 64-bit int), got "
                                      f"{shown(value)}; use a smaller number")
                return number
        elif expected is float:
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                try:
                    return float(value)
                except OverflowError:
                    raise ConfigError(f"{key} must be a float, got {shown(value)}, beyond "
                                      "any float; use a smaller number") from None
        elif expected is str:
            if isinstance(value, str):
                return value
        else:
            check = typing.get_origin(expected) or expected
            if isinstance(check, type) and isinstance(value, check):
                return value
    names = " or ".join(getattr(t, "__name__", str(t)) for t in options)
    raise ConfigError(f"config key '{key}' must be {names}, got {shown(value)} "
                      f"({type(value).__name__})")
