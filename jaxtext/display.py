"""Generated text as HTML: each token shaded by the probability the model gave it.

Shared by the notebook dashboard (samples while training) and ``%%generate`` (and anyone who
displays ``GeneratedText`` in a notebook); the plain-text form is the fallback everywhere else.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def token_color(p: float) -> str:
    """Background for a generated token: red (unlikely) through yellow to green (likely).

    >>> token_color(1.0)
    'hsl(120,70%,82%)'
    """
    p = 0.0 if not math.isfinite(p) else max(0.0, min(1.0, p))
    return f"hsl({round(120 * p)},70%,82%)"


def sample_html(prompt: str, text: str, token_probs: Sequence[tuple[str, float]] = ()) -> str:
    """The prompt, then the generated tokens, each shaded by its probability (hover: p)."""
    style = ("font-family:var(--jp-code-font-family, monospace);font-size:12px;"
             "white-space:pre-wrap;line-height:1.6")
    if token_probs:
        body = "".join(
            f'<span title="p={p:.3f}" style="background:{token_color(p)};color:#000">'
            f"{html.escape(tok)}</span>" for tok, p in token_probs)
    else:
        body = html.escape(text)
    return f'<div style="{style}"><b>{html.escape(prompt)}</b>{body}</div>'


def legend_html() -> str:
    """What the shading means, in one line."""
    swatches = "".join(f'<span style="background:{token_color(p)};color:#000;padding:0 3px">'
                       f"p={p}</span>" for p in (0.1, 0.5, 0.9))
    return ('<span style="color:var(--jp-content-font-color2, #666);font-size:11px">'
            f"token shading: {swatches}</span>")


@dataclass(frozen=True)
class GeneratedText:
    """Samples of a language model: shaded HTML in a notebook, plain text elsewhere."""

    prompt: str
    texts: list[str]
    token_probs: list[list[tuple[str, float]]] = field(default_factory=list)

    def __str__(self) -> str:
        if len(self.texts) == 1:
            return self.prompt + self.texts[0]
        return "\n".join(f"--- sample {i} ---\n{self.prompt}{t}"
                         for i, t in enumerate(self.texts, 1))

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        items = [sample_html(self.prompt, text, self.token_probs[i]
                             if i < len(self.token_probs) else ())
                 for i, text in enumerate(self.texts)]
        rule = "<hr style='border:none;border-top:1px dashed #ccc'>"
        return f"<div>{legend_html()}{rule.join(items)}</div>"
