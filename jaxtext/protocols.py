"""What a plugin must provide, as ``typing.Protocol`` classes, and the checks that enforce it.

A model plugin is a Flax NNX module class registered with ``@jaxtext.register_model("name")``.
It is checked twice: when it is registered (it must be a class built as
``Model(config, dims, *, rngs)`` whose instances are called as ``model(tokens, mask)``) and when
a config first names it for a task (a language model whose samples are shown during training
must implement ``Decoder``). Failures are one line naming what is missing and the fix.

    @jaxtext.register_model("bag")
    class Bag(nnx.Module):
        @dataclass(frozen=True)
        class Config:                 # optional: the model's own config keys, with defaults
            dim: int = 64

        def __init__(self, config, dims, *, rngs): ...
        def __call__(self, tokens, mask): ...

The trainer switches dropout on and off with ``model.train()`` / ``model.eval()``, splits the
module into ``(graphdef, params, rest)`` with ``nnx.split(model, nnx.Param, ...)`` and runs
``nnx.value_and_grad`` over the merged module inside one jitted step
(``jaxtext.training.steps``), so a model needs nothing beyond plain NNX layers; dropout draws
from the ``dropout`` stream of the ``rngs`` given at init.

A model may also define ``adapt(self, batches)``: called once on a fresh model (not on one
resumed or loaded), before the first step, with the training split's batches
(``jaxtext.data.batching.Batch``: tokens, mask, labels, weights), to set state taken from the
data, like Keras's ``Layer.adapt``. Keep such state in an ``nnx.Variable`` that is not an
``nnx.Param`` (the built-in ``mlp``'s ``bag: nb`` keeps naive Bayes ratios so): it is saved,
loaded and exported with the run and never trained.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from jaxtext.errors import ConfigError, shown


@dataclass(frozen=True)
class Dims:
    """Sizes the data decides (not the user): passed to every model's constructor."""

    vocab_size: int  # token ids are in [0, vocab_size); 0 is padding
    num_outputs: int  # classes (classify), labels (multilabel), 1 (regression), vocab (lm)
    max_len: int  # longest sequence the model will see
    task: str = "classify"  # "lm" or a per-text task: "classify", "regression", "multilabel"
    pad_id: int = 0


@runtime_checkable
class Classifier(Protocol):
    """Every per-text task (classify, regression, multilabel): one output vector per text.

    Models need not know which: only ``dims.num_outputs`` and the loss differ.
    """

    def __call__(self, tokens: Any, mask: Any) -> Any:
        """tokens: int32[B, T] (0 = padding), mask: bool[B, T] -> float32[B, dims.num_outputs]."""


@runtime_checkable
class LanguageModel(Protocol):
    """``task: lm``: next-token logits at every position (causal: position t sees 0..t)."""

    def __call__(self, tokens: Any, mask: Any) -> Any:
        """tokens: int32[B, T], mask: bool[B, T] -> float32[B, T, dims.num_outputs]."""


@runtime_checkable
class Decoder(Protocol):
    """Cached decoding, what ``Run.generate`` and the samples shown while training use.

    Pure and jittable; called on a model in ``eval()`` mode. Feeding tokens 0..t one by one
    gives the same logits (within 1e-4) as ``model(tokens, mask)`` at position t. A model
    may set ``max_decode_len = None`` when its cache does not grow (a recurrent state, a
    sliding window); otherwise generation stops at ``dims.max_len`` positions.

    What the built-ins' caches hold: ``mlp`` the last ``context`` token ids int32[B, context];
    ``lstm`` the carries ``{"c", "h"}: float32[layers, B, hidden]``; ``transformer`` keys and
    values ``{"k", "v"}: float32[layers, B, heads, max_len, head_dim]``. They also offer
    ``prefill(tokens, mask) -> (logits after each row's last real token [B, V], cache)`` for
    right-padded prompts (continue with ``position = mask.sum(-1)``), which the sampler does
    not need: it feeds the prompt through ``decode_step``.
    """

    def init_cache(self, batch_size: int, max_len: int) -> Any:
        """An "empty" cache: a pytree of arrays for ``batch_size`` rows and ``max_len`` positions."""

    def decode_step(self, token: Any, cache: Any, position: Any) -> tuple[Any, Any]:
        """token: int32[B], position: int32 (traced) -> (logits float32[B, V], new cache)."""


def _defines(cls: type, name: str) -> bool:
    """``cls`` (not ``object``/``type``) defines ``name`` somewhere in its MRO."""
    return any(name in vars(k) for k in cls.__mro__[:-1])


def missing_methods(cls: type, protocol: type) -> list[str]:
    """The methods of ``protocol`` that ``cls`` lacks (checked on the class, no instance).

    >>> class Half:
    ...     def init_cache(self, batch_size, max_len): ...
    >>> missing_methods(Half, Decoder)
    ['decode_step']
    """
    wanted = [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    if "__call__" in vars(protocol):
        wanted.insert(0, "__call__")
    return [n for n in wanted if not _defines(cls, n)]


def check_model_class(name: str, cls: Any) -> None:
    """At registration: a class built as ``cls(config, dims, *, rngs)`` and called on batches."""
    if not isinstance(cls, type):
        raise ConfigError(f"model '{name}' must be a class (an nnx.Module), not "
                          f"{type(cls).__name__}; decorate the class with @register_model")
    if not _defines(cls, "__call__"):
        raise ConfigError(f"model '{name}' has no __call__(tokens, mask): implement it "
                          "(see jaxtext.protocols.Classifier / LanguageModel)")
    config_cls = getattr(cls, "Config", None)
    if config_cls is not None and not dataclasses.is_dataclass(config_cls):
        raise ConfigError(f"model '{name}': its Config must be a dataclass (its fields become "
                          "config keys); add @dataclass(frozen=True)")
    try:
        inspect.signature(cls).bind(None, None, rngs=None)
    except TypeError:
        raise ConfigError(f"model '{name}' must be built as {cls.__name__}(config, dims, *, "
                          "rngs): change its __init__ signature") from None
    except ValueError:  # no signature to read (a C type): let the first build tell
        pass


def check_model_for(name: str, cls: type, task: str, *, samples: bool) -> None:
    """At first use for a task: a language model that shows samples must be a ``Decoder``."""
    if task != "lm" or not samples:
        return
    missing = missing_methods(cls, Decoder)
    if missing:
        raise ConfigError(f"model '{name}' has no {' or '.join(missing)}: set sample_tokens: 0 "
                          "or implement jaxtext.protocols.Decoder (init_cache, decode_step)")


def require_decoder(name: str, model: Any) -> None:
    """Before generating: the model must implement ``Decoder``."""
    missing = missing_methods(type(model), Decoder)
    if missing:
        raise ConfigError(f"model '{name}' has no {' or '.join(missing)}, so it cannot generate: "
                          "implement jaxtext.protocols.Decoder (init_cache, decode_step)")


@runtime_checkable
class Callback(Protocol):
    """A view or hook: called with every event (``jaxtext.events``), in order.

    A plain function of one event works. Optional extras, used when present:
    ``on_step(step)`` after every step (keep it cheap: no device reads) and a writable
    ``control`` attribute, set to the run's ``TrainingControl`` before training, through which
    the callback may ``request_stop(reason)``. Subclass ``jaxtext.Callback`` for one method per
    event type.
    """

    def __call__(self, event: Any) -> None: ...


class DatasetLoader(Protocol):
    """A registered dataset: ``loader(seed) -> datasets.DatasetDict`` (or ``Dataset``).

    Its splits hold a text column and, for classification, a label column; missing
    ``validation`` / ``test`` splits are carved out of ``train`` with a fixed seed.
    """

    def __call__(self, seed: int) -> Any: ...


class TokenizerFactory(Protocol):
    """A registered tokenizer kind: ``factory(vocab_size, lowercase) -> (tokenizer, trainer)``.

    ``tokenizer`` is an untrained ``tokenizers.Tokenizer``; ``trainer`` a
    ``tokenizers.trainers`` object with ``special_tokens=jaxtext.data.SPECIAL_TOKENS`` or a
    function ``(tokenizer, batches_of_texts) -> None``.
    """

    def __call__(self, vocab_size: int, lowercase: bool) -> tuple[Any, Any]: ...


def check_callable(kind: str, name: str, obj: Any) -> None:
    """At registration of a dataset, tokenizer or callback: something to call."""
    if not callable(obj):
        raise ConfigError(f"{kind} '{name}' must be callable (see jaxtext.protocols), "
                          f"not {type(obj).__name__}")


def check_callback(obj: Any) -> None:
    if not callable(obj):
        raise ConfigError(f"callbacks must be registered names, jaxtext.Callback objects or "
                          f"functions of one event, not {type(obj).__name__} ({shown(obj)})")
