"""The event stream a training run emits to its callbacks.

Events are frozen dataclasses of plain Python values (no device arrays), so a view
(terminal bar, notebook dashboard, JSON writer) can keep, print or serialize them freely.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainBegin:
    run_name: str
    task: str  # "classify", "lm", "regression" or "multilabel"
    model: str
    data: str
    config: dict[str, Any]
    num_params: int
    devices: list[str]
    dataset_sizes: dict[str, int]  # split -> examples (classify) or sequences (lm)
    label_names: list[str]  # classes; [] for language models
    epochs: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    out: str = ""  # the run folder it is saved (and checkpointed) to, "" = none
    resumed_at: int = 0  # the step a resumed run continues from (0 = a fresh start)
    # layers, shapes and bytes (jaxtext.model_summary.ModelSummary.to_dict); {} in old runs
    model_summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepLog:
    """Training metrics averaged over the steps since the previous log."""

    step: int
    epoch: int  # 1-based epoch the step belongs to
    total_steps: int
    examples_seen: int
    examples_per_s: float
    elapsed_s: float
    eta_s: float
    lr: float
    loss: float
    accuracy: float | None  # classify only (None for the other tasks)


@dataclass(frozen=True)
class EvalResult:
    split: str  # "validation" or "test"
    epoch: int
    step: int
    # classify: loss, accuracy, macro_f1 | lm: loss, perplexity, bits_per_char |
    # regression: r2, mae, rmse, loss | multilabel: micro_f1, macro_f1, loss (+ threshold)
    metrics: dict[str, float]
    label_names: list[str] = field(default_factory=list)
    confusion_matrix: list[list[int]] | None = None  # [true][predicted]
    per_class: list[dict[str, Any]] | None = None  # {label, precision, recall, f1, support}
    examples: list[dict[str, Any]] = field(default_factory=list)  # misclassified: text, label, predicted, probs
    sampled: int = 0  # scored on a fixed sample of this many examples (eval_limit); 0 = all
    # regression: [true, predicted] of at most ``MAX_PAIRS`` spread-out rows (a scatter plot)
    pairs: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    step: int
    elapsed_s: float
    train: dict[str, float]
    validation: dict[str, float]
    is_best: bool


@dataclass(frozen=True)
class Samples:
    """Text sampled from a fixed prompt (language models, at each epoch end)."""

    epoch: int
    step: int
    prompt: str
    samples: list[str]
    # per sample: [(token_text, probability), ...] for the generated tokens
    token_probs: list[list[tuple[str, float]]] = field(default_factory=list)


@dataclass(frozen=True)
class Phase:
    """What the run is doing now, so no phase is silent: "data" (loading, tokenizing, or
    cached), "compile" (compiling, then "compiled in 8.2 s" / "compile cache hit"), "train",
    "evaluate" (with batches done of total). Transient: a ``History`` keeps only the latest."""

    name: str
    detail: str
    elapsed_s: float
    done: int = 0  # progress in the phase's own units (texts, batches); 0 with total 0: unknown
    total: int = 0
    took_s: float = 0.0  # a compile that just finished: how long it took
    cached: bool = False  # ... and whether JAX's persistent compile cache had it


@dataclass(frozen=True)
class Interrupt:
    """Training was asked to stop early (Ctrl-C, kernel interrupt, Stop button)."""

    step: int
    epoch: int
    reason: str


@dataclass(frozen=True)
class TrainEnd:
    step: int
    elapsed_s: float
    status: str  # "completed", "early_stopped", "interrupted", "failed", "cancelled"
    message: str
    test: dict[str, float] | None  # test metrics, None if the run did not reach test
    # first_step_s (build + compile + one step), train_examples_per_s (steady), total_s
    timing: dict[str, float] = field(default_factory=dict)


# The learning-rate finder (``jaxtext.lr_find``) emits these, with ``Phase`` while it prepares
# the data and compiles; a view of the sweep needs nothing else.


@dataclass(frozen=True)
class LRFindBegin:
    model: str
    data: str
    config: dict[str, Any]
    start_lr: float
    end_lr: float
    steps: int  # the most steps the sweep takes (it stops early when the loss diverges)
    rule: str  # how the suggested rate will be chosen, in one sentence


@dataclass(frozen=True)
class LRFindStep:
    step: int  # 1-based
    lr: float
    loss: float  # this step's training loss
    smoothed: float  # debiased exponential moving average of the losses so far


@dataclass(frozen=True)
class LRFindEnd:
    status: str  # "completed", "diverged", "interrupted", "failed" or "cancelled"
    message: str
    steps: int  # steps recorded
    suggested: float | None  # None when no rate could be suggested (no finite loss)
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class SweepBegin:
    """A sweep starts: its configurations (the swept keys' values of each) and their groups."""

    name: str
    keys: list[str]  # the swept keys, in the order given
    values: list[dict[str, Any]]  # per configuration: swept key -> value
    groups: list[list[int]]  # configurations trained together (vmapped), in running order
    monitor: str  # the validation metric that ranks them
    higher_is_better: bool


@dataclass(frozen=True)
class SweepItem:
    """One configuration's own event (``TrainBegin``, ``StepLog``, ``EpochEnd``, ...)."""

    index: int  # the configuration (``SweepBegin.values[index]``)
    event: Any


@dataclass(frozen=True)
class SweepEnd:
    status: str  # "completed" or "interrupted"
    elapsed_s: float
    table: list[dict[str, Any]]  # the ranked rows (``jaxtext.sweeps.summary_row``), best first


Event = (TrainBegin | StepLog | EvalResult | EpochEnd | Samples | Phase | Interrupt | TrainEnd
         | LRFindBegin | LRFindStep | LRFindEnd)


EVENT_TYPES = {cls.__name__: cls for cls in
               (TrainBegin, StepLog, EvalResult, EpochEnd, Samples, Phase, Interrupt, TrainEnd,
                LRFindBegin, LRFindStep, LRFindEnd)}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with the event's type name under ``"event"``."""
    return {"event": type(event).__name__, **asdict(event)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of ``event_to_dict`` (after a JSON round trip); ValueError when malformed."""
    if not isinstance(data, dict) or data.get("event") not in EVENT_TYPES:
        raise ValueError(f"not a jaxtext event: {str(data)[:60]}")
    cls = EVENT_TYPES[data["event"]]
    try:
        return cls(**{k: v for k, v in data.items() if k != "event"})
    except TypeError as err:
        raise ValueError(f"malformed {data['event']} event: {err}") from None
