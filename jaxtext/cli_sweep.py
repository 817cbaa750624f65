"""``python -m jaxtext sweep``: a grid of configurations from the shell (``jaxtext.sweep``).

Read like ``train``: a ``--config`` file, then settings in order; swept keys come from
``--sweep KEY=V1,V2`` options and from a ``sweep:`` mapping in the config file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from jaxtext.errors import ConfigError
from jaxtext.settings import merge_settings, parse_tokens, read_settings_file, split_sweep_tokens

SWEEP_HELP = """\
usage: python -m jaxtext sweep [--config FILE] [--json FILE] [--quiet]
                               --sweep KEY=V1,V2,... [--sweep ...] [SETTING ...]

Train every configuration of a grid (the product of the swept values) and print them ranked by
the validation metric (accuracy for classifiers, loss for language models). Configurations
that differ only in lr, weight_decay, grad_clip or seed train together in one vmapped step;
others (model, dim, batch_size, ...) run one group after another.

options:
  --sweep KEY=V1,V2,...   a swept key and its values, e.g. --sweep lr=1e-3,3e-3,1e-2
  --config FILE   YAML file of config keys; a 'sweep:' mapping in it sweeps keys too
  --json FILE     write the ranked table (one object per configuration) to this JSON file
  --quiet         no progress bar
  -h, --help      show this help

settings: any config key as in `train --help`, shared by every configuration.
"""


def sweep_settings(args) -> tuple[dict, dict]:
    """(settings every configuration shares, swept key -> values) from a ``train``-style
    ``args`` (``cli.parse_train_args``)."""
    from_file = read_settings_file(args.config) if args.config else {}
    file_sweep = from_file.pop("sweep", {})
    if not isinstance(file_sweep, Mapping):
        raise ConfigError(f"sweep: in config file '{args.config}' is a mapping of key: "
                          f"[values] lines, e.g. 'sweep:\\n  lr: [1e-3, 3e-3]'")
    tokens, line_sweep = split_sweep_tokens(args.settings)
    return merge_settings(from_file, parse_tokens(tokens)), {**file_sweep, **line_sweep}


def cmd_sweep(args) -> int:
    import jaxtext

    config, swept = sweep_settings(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    result = jaxtext.sweep(config, callbacks=[] if args.quiet else ["sweep_progress"], **swept)
    table = result.table
    print(f"\n{len(result.runs)} of {len(result.plan.configs)} configurations "
          f"{result.status}, ranked by validation {result.plan.monitor}:")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.json:
        rows = [{"config": int(i), **row} for i, row in table.to_dict("index").items()]
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str) + "\n")
    return 0  # a stopped sweep still prints what it trained, like a stopped `train`
