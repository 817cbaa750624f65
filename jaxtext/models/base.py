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
