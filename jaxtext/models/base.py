"""What every registered model provides.

A model is a Flax NNX module class registered with ``@jaxtext.register_model("name")``:

    @jaxtext.register_model("bag")
    class Bag(nnx.Module):
        @dataclass(frozen=True)
        class Config:            # the model's own config keys, with defaults
            dim: int = 64

        def __init__(self, config: Config, dims: Dims, *, rngs: nnx.Rngs): ...

        def __call__(self, tokens, mask):
            # tokens: int32[batch, seq]; mask: bool[batch, seq] (False = padding)
            # classify -> float32[batch, dims.num_outputs]
            # lm       -> float32[batch, seq, dims.num_outputs] (next-token logits)
            ...

Dropout uses ``nnx.Dropout`` with the ``dropout`` stream of the ``rngs`` given at init;
the trainer switches it on and off with ``model.train()`` / ``model.eval()``.
Inside a jitted step merge with ``nnx.merge(graphdef, params, rest, copy=True)``: without
``copy=True`` a Dropout's RNG counter, created outside ``jax.grad``, cannot advance inside it
(``TraceContextError``); return the new ``rest`` so the next step draws new dropout masks.

A model may also suggest core training settings for a task (``training_defaults``, a
staticmethod ``task -> dict`` such as ``{"lr": 2e-2}``; explicit user keys win).

Cached decoding (lm models that support generation; all three built-ins do). Pure and
jittable; call on a model in ``eval()`` mode:

    cache = model.init_cache(batch_size, max_len)      # a pytree of arrays, all "empty"
    logits, cache = model.decode_step(token, cache, position)
        # token: int32[B], position: int32 scalar or int32[B] (where this token sits; traced)
        # -> next-token logits float32[B, V] and the cache with this token added
    logits, cache = model.prefill(tokens, mask)
        # right-padded prompts int32[B, T] -> logits after each row's last real token
        # float32[B, V] and the cache; continue with position = mask.sum(-1) (per row)

Feeding tokens 0..t one by one gives the same logits (within 1e-4) as ``model(tokens, mask)``
at position t. What the cache holds: ``mlp`` the last ``context`` token ids int32[B, context];
``lstm`` the carries ``{"c", "h"}: float32[layers, B, hidden]``; ``transformer`` keys and
values ``{"k", "v"}: float32[layers, B, heads, max_len, head_dim]`` (positions must stay
below ``max_len`` and the model's ``dims.max_len``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dims:
    """Sizes the data decides (not the user): passed to every model's constructor."""

    vocab_size: int  # token ids are in [0, vocab_size); 0 is padding
    num_outputs: int  # number of classes (classify) or vocab_size (lm)
    max_len: int  # longest sequence the model will see
    task: str = "classify"  # "classify" or "lm"
    pad_id: int = 0
