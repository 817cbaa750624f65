"""``python -m jaxtext lr-find``: the LR finder from the shell (``jaxtext.lr_find``): its help,
the sweep's own flags checked before JAX loads, the curve as a table and ``--json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LR_FIND_HELP = """\
usage: python -m jaxtext lr-find [--config FILE] [--json FILE] [--quiet] [SETTING ...]

Sweep the learning rate over the first steps of the run `train` would make with the same
settings (fresh model, same data and seed; nothing is saved), print the loss curve as a table
and the suggested rate (one tenth of the rate where the smoothed loss was lowest).

options:
  --config FILE   YAML file of config keys, as for `train`
  --json FILE     write lrs, losses, smoothed, suggested and timing to this JSON file
  --quiet         no progress bar
  -h, --help      show this help

the sweep:
  --start-lr LR   first rate (default 1e-7)
  --end-lr LR     last rate (default 10)
  --steps N       most steps (default 100; it stops once the smoothed loss passes 4x its
                  minimum)

settings: every `train` setting (--model lstm --data imdb --batch-size 32 ...).
"""


def check_lr_find_settings(settings: dict[str, Any]) -> None:
    """``start_lr``, ``end_lr`` and ``steps``: one line each when wrong, before JAX loads."""
    from jaxtext.lr_finder import END_LR, START_LR, STEPS, check_sweep

    check_sweep(settings.get("start_lr", START_LR), settings.get("end_lr", END_LR),
                settings.get("steps", STEPS))


def lr_find_command(settings: dict[str, Any], *, quiet: bool, json_path: str | None) -> int:
    """Run the finder, print its table and suggestion; 2 when no rate could be suggested."""
    import jaxtext

    finder = jaxtext.lr_find(settings, callbacks=[] if quiet else ["progress"])
    print(finder.table())
    print(f"\n{finder.summary()}\n{finder.rule}")
    if json_path:
        report = {"lrs": finder.lrs.tolist(), "losses": finder.losses.tolist(),
                  "smoothed": finder.smoothed.tolist(), "suggested": finder.suggested,
                  "status": finder.status, "message": finder.message, "rule": finder.rule,
                  "timing": finder.timing, "config": finder.config.to_dict()}
        Path(json_path).write_text(json.dumps(report, indent=1, default=str) + "\n")
    if finder.suggested is None:
        print(f"error: no rate suggested ({finder.message}); try a lower start_lr",
              file=sys.stderr)
        return 2
    return 0
