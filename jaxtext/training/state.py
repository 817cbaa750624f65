"""A model as plain state: the one place a config becomes a model, and its functional split.

``ModelState`` is what training produces and what evaluation, generation, saving and the
``Run`` consume: two graph definitions (dropout on for training, off for evaluation) plus
the arrays. It holds no data and no tokenizer; pass those alongside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxtext.config import Config
from jaxtext.history import History
from jaxtext.protocols import Dims
from jaxtext.registry import models


def copy_arrays(tree: Any) -> Any:
    """Fresh device copies of every array in ``tree``, so a donating step can consume the
    copies and leave the originals intact. A runtime copy: unlike ``jnp.copy`` it compiles
    nothing (measured: 0.3 s of cold compiles for ten shapes, against 1.5 ms). Each copy keeps
    its array's sharding, named explicitly: jax 0.10 copies a replicated PRNG key to one
    device otherwise, and the step then silently compiles again for the new input type.
    Arrays spread over several processes (which ``device_put`` refuses to copy as PRNG keys)
    are copied by ``jnp.copy``, compiled once per shape."""
    arrays = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
    if not all(x.is_fully_addressable for x in arrays):
        return jax.tree.map(jnp.copy, tree)
    shardings = jax.tree.map(lambda x: x.sharding if isinstance(x, jax.Array) else None, tree)
    return jax.device_put(tree, shardings, may_alias=False)


class ModelState(NamedTuple):
    """A model split for pure functions: ``nnx.merge(graph, params, rest)`` rebuilds it."""

    train_graph: Any  # graphdef with dropout on
    eval_graph: Any  # graphdef with dropout off
    params: Any  # nnx.State of nnx.Param
    rest: Any  # nnx.State of everything else (RNG counters, ...)

    def module(self, train: bool = False) -> nnx.Module:
        """The NNX module with these weights (eval mode unless ``train``)."""
        return nnx.merge(self.train_graph if train else self.eval_graph, self.params, self.rest)

    @property
    def num_params(self) -> int:
        return int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.params)))


def model_from_config(config: Config, dims: Dims) -> nnx.Module:
    """Build the registered model ``config.model`` with its keys; seeded by ``config.seed``.

    Built inside one ``nnx.jit``: run eagerly, each initializer compiles on its own (measured
    on 2 cores: 0.7 / 1.5 / 1.9 s for the mlp / lstm / transformer, against 0.4 / 0.9 / 1.2 s
    for one compile). A model whose constructor needs concrete values (a third party's, say)
    is built eagerly instead.
    """
    model_cls = models.get(config.model)

    def build() -> nnx.Module:
        # seeds are int64: the largest seed (2**63 - 1) wraps its dropout stream to 0
        rngs = nnx.Rngs(params=config.seed, dropout=(config.seed + 1) % 2**63)
        return model_cls(config.model_args, dims, rngs=rngs)

    try:
        return nnx.jit(build)()
    except jax.errors.JAXTypeError:
        return build()


def split_model(model: nnx.Module) -> ModelState:
    model.train()
    train_graph, params, rest = nnx.split(model, nnx.Param, ...)
    model.eval()
    eval_graph, _, _ = nnx.split(model, nnx.Param, ...)
    return ModelState(train_graph, eval_graph, params, rest)


def init_model_state(config: Config, dims: Dims, data: Any = None) -> ModelState:
    """A freshly initialised model for ``config`` and the data's ``dims``.

    Given the prepared ``data``, a model that defines ``adapt(batches)`` first reads the
    training split's batches (statistics such as naive Bayes counts; ``jaxtext.protocols``).
    Without it (a saved run being loaded) such state is left at its initial value, to be
    restored from the saved arrays.
    """
    model = model_from_config(config, dims)
    adapt = getattr(model, "adapt", None)
    if data is not None and callable(adapt):
        adapt(data.batches("train"))
    return split_model(model)


@dataclass(frozen=True)
class TrainedState:
    """Everything a ``Run`` is made of: what training returns and what loading a run reads.

    ``data`` is the tokenized data of the training session (``None`` for a loaded run, which
    prepares its splits again when asked to evaluate on them); ``history`` is the folded event
    stream, which also says how the run ended (``history.end``).
    """

    config: Config
    tokenizer: Any
    label_names: tuple[str, ...]
    dims: Dims
    model: ModelState
    opt_state: Any
    total_steps: int  # steps of the whole schedule (the optimizer is rebuilt from it on load)
    history: History
    step: int = 0  # steps trained so far
    data: Any = None  # jaxtext.data.prepare.PreparedData | None
    # numbers the task needs beyond the weights: regression's target_mean / target_std,
    # multilabel's tuned threshold (saved in meta.json)
    task_params: dict[str, float] = field(default_factory=dict)
