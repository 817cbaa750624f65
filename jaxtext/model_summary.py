"""What a model is made of: parameters per layer, their shapes, and the bytes they and the
optimizer state take.

Read from the shapes of the arrays only (nothing runs through the model and nothing is fetched
from the device), so the trainer computes it once before the first step and puts it in its
``TrainBegin`` event; ``Run.summary()`` shows the same numbers as a ``ModelSummary``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSummary:
    """Per-layer parameter counts and shapes plus memory, with a text and an HTML view.

    ``layers``: one dict per module that holds parameters itself, in path order:
    ``{"layer": "blocks.0.fc1", "type": "Linear", "params": 8320,
    "shapes": {"kernel": [64, 128], "bias": [128]}}`` (plain values: it travels in events).
    """

    model: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    param_bytes: int = 0
    opt_state_bytes: int = 0
    # arrays the model keeps but does not train (naive Bayes ratios, dropout's RNG streams)
    fixed_bytes: int = 0

    @property
    def num_params(self) -> int:
        return sum(layer["params"] for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "layers": self.layers, "param_bytes": self.param_bytes,
                "opt_state_bytes": self.opt_state_bytes, "fixed_bytes": self.fixed_bytes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSummary:
        return cls(**data)

    def frame(self):
        """One row per layer: layer, type, params, shapes (e.g. 'kernel 64x128, bias 128')."""
        import pandas as pd

        return pd.DataFrame([{"layer": r["layer"], "type": r["type"], "params": r["params"],
                              "shapes": shapes_text(r["shapes"])} for r in self.layers],
                            columns=["layer", "type", "params", "shapes"])

    def sizes(self) -> str:
        """'69,698 parameters (272.3 KiB); optimizer state 544.6 KiB', then the untrained
        arrays when they are more than RNG state (over 1 KiB)."""
        fixed = f"; untrained arrays {size_text(self.fixed_bytes)}" \
            if self.fixed_bytes > 1024 else ""
        return (f"{self.num_params:,} parameters ({size_text(self.param_bytes)}); "
                f"optimizer state {size_text(self.opt_state_bytes)}{fixed}")

    def headline(self) -> str:
        """The model's name, then ``sizes()``."""
        return f"{self.model}: {self.sizes()}"

    def text(self, max_rows: int | None = None) -> str:
        """The headline and a table; ``max_rows`` keeps the first rows and counts the rest."""
        rows = [(r["layer"], r["type"], f"{r['params']:,}", shapes_text(r["shapes"]))
                for r in self.layers]
        hidden = rows[max_rows:] if max_rows is not None and len(rows) > max_rows else []
        rows = rows[:len(rows) - len(hidden)]
        table = [("layer", "type", "params", "shapes"), *rows]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        lines = [self.headline()]
        for row in table:
            lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  "
                         f"{row[2]:>{widths[2]}}  {row[3]}".rstrip())
        if hidden:
            rest = sum(r["params"] for r in self.layers[len(rows):])
            lines.append(f"  … {len(hidden)} more layers, {rest:,} parameters")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def table_html(self) -> str:
        """The per-layer table as HTML (inline styles only: notebooks drop <style> blocks)."""
        return layers_html(self.layers)

    def _repr_html_(self) -> str:
        return f"<div><b>{html.escape(self.headline())}</b>{self.table_html()}</div>"


def summarize(model_state, opt_state, model: str) -> ModelSummary:
    """The summary of a ``ModelState`` (``jaxtext.training.state``) and its optimizer state."""
    import numpy as np
    from flax import nnx

    module = model_state.module()
    types = {path: type(node).__name__ for path, node in nnx.iter_graph(module)
             if isinstance(node, nnx.Module)}
    layers: dict[tuple, dict[str, Any]] = {}
    for path, value in nnx.to_flat_state(model_state.params):
        owner = path[:-1] if path[:-1] in types and path[:-1] else path
        name = ".".join(map(str, owner)) or "(model)"
        layer = layers.setdefault(owner, {"layer": name, "type": types.get(owner, "Param"),
                                          "params": 0, "shapes": {}})
        shape = [int(d) for d in np.shape(value.get_value())]
        layer["shapes"]["" if owner == path else str(path[-1])] = shape
        layer["params"] += math.prod(shape)
    return ModelSummary(model=model, layers=list(layers.values()),
                        param_bytes=tree_bytes(model_state.params),
                        opt_state_bytes=tree_bytes(opt_state),
                        fixed_bytes=tree_bytes(model_state.rest))


def tree_bytes(tree: Any) -> int:
    """Bytes of every array in a pytree (shape x item size; nothing is fetched)."""
    import jax
    import numpy as np

    return sum(math.prod(np.shape(x)) * x.dtype.itemsize  # (a PRNG key: its key data)
               for x in jax.tree.leaves(tree) if hasattr(x, "dtype"))


def shapes_text(shapes: dict[str, list[int]]) -> str:
    """{'kernel': [64, 128], 'bias': [128]} -> 'kernel 64x128, bias 128'.

    >>> shapes_text({"kernel": [64, 128], "bias": [128]}), shapes_text({"": [32, 64]})
    ('kernel 64x128, bias 128', '32x64')
    """
    return ", ".join(f"{name} {'x'.join(map(str, dims))}".strip() for name, dims in shapes.items())


def size_text(n: float) -> str:
    """Bytes in binary units.

    >>> size_text(512), size_text(278_792), size_text(3 * 2**30)
    ('512 bytes', '272.3 KiB', '3.0 GiB')
    """
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"  # unreachable


def layers_html(layers: list[dict[str, Any]]) -> str:
    cell = "padding:1px 8px;border-bottom:1px solid var(--jp-border-color2, #ddd)"
    head = "".join(f'<th style="{cell};text-align:{a}">{h}</th>' for h, a in (
        ("layer", "left"), ("type", "left"), ("params", "right"), ("shapes", "left")))
    body = "".join(
        f'<tr><td style="{cell};text-align:left">{html.escape(r["layer"])}</td>'
        f'<td style="{cell};text-align:left">{html.escape(r["type"])}</td>'
        f'<td style="{cell};text-align:right">{r["params"]:,}</td>'
        f'<td style="{cell};text-align:left">{html.escape(shapes_text(r["shapes"]))}</td></tr>'
        for r in layers)
    return (f'<table style="border-collapse:collapse;font-size:12px;line-height:1.35">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
