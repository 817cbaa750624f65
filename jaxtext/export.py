"""``Run.export``: a classifier as a serialized ``jax.export`` function, its weights, its
tokenizer and a manifest, readable by ``jaxtext.exported`` with jax, numpy and tokenizers alone.

The folder (``jaxtext.exported.FILES``)::

    manifest.json    format, task, labels, max_len, batch_size, widths, inputs and outputs
    function.jax     jax.export.Exported.serialize(): StableHLO of
                     probs(weights, tokens int32[b, t], mask bool[b, t]) -> float32[b, classes]
    weights.npz      the weights, w0..wN, in the order the function takes them
    tokenizer.json   the run's Hugging Face tokenizer (tokenizers.Tokenizer.from_str reads it)

The batch ``b`` and length ``t`` are symbolic (``t <= max_len``), so any batch works. The
loader computes each text the way ``run.predict([text])`` does (a batch of ``batch_size`` rows
at the text's own bucket width), which makes its answers bit-equal to ``run.predict`` and
independent of which other texts share a batch (a transformer's last bit depends on the
padded width). The parameters are arguments, not constants baked into the StableHLO, so exporting a
large model stays fast; the rest of the model state (dropout's RNG streams, unused when
predicting) is baked in.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxtext.data.batching import bucket_widths
from jaxtext.errors import ConfigError, RunFolderError
from jaxtext.exported import FORMAT
from jaxtext.storage import replace_folder, write_file

# Lowered for both, whatever this machine has: train on a GPU, serve on a CPU (or the reverse).
PLATFORMS = ("cpu", "cuda")


def export_files(trained, batch_rows: int | None = None) -> dict[str, bytes]:
    """The export of a classifier's ``TrainedState`` as {file name: bytes}.

    ``batch_rows``: the rows of each batch the loader fills, as ``run.predict`` does
    (``batch_size`` rounded up to the devices; default ``batch_size``).
    """
    if trained.config.task == "lm":
        return _lm_files(trained)
    config, model = trained.config, trained.model
    leaves, treedef = jax.tree.flatten(model.params)
    graph, rest = model.eval_graph, model.rest  # rest: RNG streams, constants in the function

    def probs(weights, tokens, mask):
        logits = nnx.merge(graph, jax.tree.unflatten(treedef, weights), rest)(tokens, mask)
        return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

    batch, length = jax.export.symbolic_shape("b, t", constraints=(f"t <= {config.max_len}",))
    exported = jax.export.export(jax.jit(probs), platforms=PLATFORMS)(
        [jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x in leaves],
        jax.ShapeDtypeStruct((batch, length), jnp.int32),
        jax.ShapeDtypeStruct((batch, length), jnp.bool_))
    weights = io.BytesIO()
    np.savez(weights, **{f"w{i}": np.asarray(x) for i, x in enumerate(leaves)})
    return {
        "manifest.json": json.dumps(_manifest(trained, len(leaves), batch_rows), indent=1).encode(),
        "function.jax": bytes(exported.serialize()),
        "weights.npz": weights.getvalue(),
        "tokenizer.json": trained.tokenizer.tokenizer.to_str().encode(),
    }


def _manifest(trained, num_weights: int, batch_rows: int | None) -> dict:
    config, tokenizer = trained.config, trained.tokenizer
    return {
        "format": FORMAT,
        "task": config.task,
        "model": config.model,
        "labels": list(trained.label_names),
        "max_len": config.max_len,
        "truncate": config.truncate,
        "batch_size": batch_rows or config.batch_size,
        "widths": list(bucket_widths(config.max_len)),
        "num_weights": num_weights,
        "tokenizer": {"kind": tokenizer.kind, "pad_id": tokenizer.pad_id,
                      "unk_id": tokenizer.unk_id, "add_special_tokens": False,
                      "encode_special_tokens": True, "empty_text": [tokenizer.unk_id]},
        "inputs": {
            "weights": f"the arrays w0..w{num_weights - 1} of weights.npz, as a list",
            "tokens": "int32[batch, length]: each text's token ids (longer texts: max_len of "
                      "them, as truncate says), then 0 (<pad>)",
            "mask": "bool[batch, length]: True on real tokens",
        },
        "outputs": {"probs": "float32[batch, classes]: softmax over labels, in their order"},
        "exact_like_predict": "a batch of batch_size rows, length = the smallest of widths "
                              "that holds the text",
        "platforms": list(PLATFORMS),
        "jax_version": jax.__version__,
    }


def write_export(path: Path, files: dict[str, bytes], *, overwrite: bool = False) -> Path:
    """Write an export folder atomically; an existing one only with ``overwrite``."""
    path = Path(path)
    if path.is_symlink():
        raise RunFolderError(f"'{path}' is a symbolic link: jaxtext never writes through links; "
                             "pass the real folder")
    if path.exists():
        if not path.is_dir():
            raise RunFolderError(f"'{path}' is a file, not a folder; pick another path")
        if any(path.iterdir()):
            if not (path / "manifest.json").is_file():
                raise RunFolderError(f"'{path}' exists and is not a jaxtext export; pick a new "
                                     "folder or empty it")
            if not overwrite:
                raise RunFolderError(f"'{path}' already holds an export; pass overwrite=True "
                                     "(--overwrite) to replace it")

    def write(tmp: Path) -> None:
        for name, data in files.items():
            write_file(tmp, name, data)

    return replace_folder(path, write)


def _lm_files(trained) -> dict[str, bytes]:
    """A language model: its cache (``init.jax``) and ``CHUNK`` decode steps (``decode.jax``),
    the very steps ``jaxtext.generate`` runs, so a loader's samples equal ``run.generate``'s."""
    from jaxtext.generate import CHUNK, decode_steps
    from jaxtext.protocols import require_decoder

    config, model = trained.config, trained.model
    module = model.module()
    require_decoder(config.model, module)
    limit = getattr(module, "max_decode_len", trained.dims.max_len)
    if limit is None and jax.eval_shape(lambda: module.init_cache(1, 2)) != \
            jax.eval_shape(lambda: module.init_cache(1, 3)):
        raise ConfigError(f"model '{config.model}' has an unbounded decode whose cache grows with "
                          "the length; export cannot fix its shape (set max_decode_len)")
    leaves, treedef = jax.tree.flatten(model.params)
    graph, rest = model.eval_graph, model.rest
    rows = jax.export.symbolic_shape("b")[0]

    def init(token):  # token: int32[b], only for its batch size
        return nnx.merge(graph, jax.tree.unflatten(treedef, leaves), rest).init_cache(
            token.shape[0], limit or 1)

    def decode(weights, cache, token, position, forced, key, temperature, top_k, top_p):
        steps = decode_steps(nnx.merge(graph, jax.tree.unflatten(treedef, weights), rest),
                             cache, token, position, forced, jax.random.wrap_key_data(key),
                             temperature, top_k, top_p)
        return *steps[:3], jax.random.key_data(steps[3]), *steps[4:]

    token = jax.ShapeDtypeStruct((rows,), jnp.int32)
    cache = jax.eval_shape(jax.jit(init), token)
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    decoded = jax.export.export(jax.jit(decode), platforms=PLATFORMS)(
        [jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x in leaves], cache, token,
        jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((CHUNK, rows), jnp.int32),
        jax.ShapeDtypeStruct((2,), jnp.uint32), scalar, jax.ShapeDtypeStruct((), jnp.int32),
        scalar)
    tokenizer = trained.tokenizer
    manifest = {
        "format": FORMAT, "task": "lm", "model": config.model, "max_len": config.max_len,
        "decode_limit": limit, "chunk": CHUNK, "num_weights": len(leaves),
        "tokenizer": {"kind": tokenizer.kind, "pad_id": tokenizer.pad_id,
                      "unk_id": tokenizer.unk_id, "bos_id": tokenizer.bos_id,
                      "eos_id": tokenizer.eos_id, "add_special_tokens": False,
                      "encode_special_tokens": True},
        "inputs": {"init": "token int32[b] (its batch size only)",
                   "decode": "weights, cache, token int32[b], position int32, forced "
                             f"int32[{CHUNK}, b] (>= 0: feed this prompt token), key uint32[2] "
                             "(jax.random.key_data), temperature float32, top_k int32, "
                             "top_p float32"},
        "outputs": {"init": "the zero cache",
                    "decode": f"cache, token, position, key, tokens int32[b, {CHUNK}], "
                              f"probs float32[b, {CHUNK}]"},
        "platforms": list(PLATFORMS), "jax_version": jax.__version__,
    }
    weights = io.BytesIO()
    np.savez(weights, **{f"w{i}": np.asarray(x) for i, x in enumerate(leaves)})
    return {"manifest.json": json.dumps(manifest, indent=1).encode(),
            "init.jax": bytes(jax.export.export(jax.jit(init), platforms=PLATFORMS)(token)
                              .serialize()),
            "decode.jax": bytes(decoded.serialize()),
            "weights.npz": weights.getvalue(),
            "tokenizer.json": tokenizer.tokenizer.to_str().encode()}
