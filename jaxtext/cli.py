"""``python -m jaxtext``: train, find a learning rate, sweep, predict, generate, summarize,
compare, export, serve, launch and list from the shell.

Thin over the Python API: every flag maps to a config key of ``jaxtext.train``.
Mistakes print one line (``error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from jaxtext.cli_saved import (
    cmd_compare,
    cmd_export,
    cmd_generate,
    cmd_predict,
    cmd_serve,
    cmd_summary,
)
from jaxtext.errors import Cancelled, ConfigError, JaxtextError
from jaxtext.keys import keys_text
from jaxtext.settings import merge_settings, parse_tokens, read_settings_file

TRAIN_HELP = """\
usage: python -m jaxtext train [--config FILE] [--json FILE] [--quiet] [SETTING ...]

Train a model and print its test metrics.

options:
  --config FILE   YAML file of config keys ('key: value' lines, read like a %%train body)
  --json FILE     write metrics and timing to this JSON file (checked before training)
  --quiet         no progress bar
  -h, --help      show this help

common settings:
  --out DIR       save the run to this folder (checked before training; a stopped or failed
                  run is saved too, never over a finished one unless --overwrite)
  --checkpoint-every N|DURATION   checkpoints in DIR/checkpoints every N steps or '10min'
  --resume DIR    continue the run in DIR from its latest checkpoint
  --init DIR      start a new run from the weights of the run in DIR

settings: any config key as --key VALUE or --set key=VALUE, model keys included, e.g.
  --model lstm --epochs 2 --lr 3e-3 --max-len 128 --set hidden=128
  --lr suggested runs the LR finder first and trains with its rate (see `lr-find --help`)
  see `python -m jaxtext help` (core keys) and `python -m jaxtext help MODEL` (a model's keys).
  Values are YAML 1.2 scalars, read exactly as in a %%train body; later settings win, and
  every setting overrides the --config file.
"""
_TRAIN_OPTIONS = {"--config": "train.yaml", "--json": "metrics.json"}
_SWEEP_KEYS = ("start_lr", "end_lr", "steps")


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes are one ``error:`` line (a ConfigError), not usage + exit."""

    def error(self, message: str):
        raise ConfigError(f"{message}; see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    """The subcommands other than ``train``'s settings (see ``parse_train_args``)."""
    parser = _Parser(prog="python -m jaxtext", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("train", add_help=False,
                   help="train a model and print test metrics (train --help: its options)")
    sub.add_parser("lr-find", add_help=False,
                   help="sweep the learning rate and suggest one (lr-find --help: its options)")

    sub.add_parser("sweep", add_help=False,
                   help="train a grid of configurations, ranked (sweep --help: its options)")

    predict = sub.add_parser("predict", help="classify texts with a saved run")
    predict.add_argument("run_dir")
    predict.add_argument("texts", nargs="+")

    generate = sub.add_parser("generate", help="sample text from a saved language model")
    generate.add_argument("run_dir")
    generate.add_argument("--prompt", default="")
    generate.add_argument("--max-new-tokens", type=int, default=200)
    generate.add_argument("--temperature", type=float, default=1.0)
    generate.add_argument("--top-k", type=int, default=0)
    generate.add_argument("--top-p", type=float, default=1.0)
    generate.add_argument("--num-samples", type=int, default=1)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--json", help="write samples and tokens_per_s to this JSON file")

    summary = sub.add_parser("summary", help="a saved run's parameters per layer and memory")
    summary.add_argument("run_dir")

    compare = sub.add_parser("compare", help="saved runs side by side: final metrics and the "
                             "config keys that differ")
    compare.add_argument("run_dirs", nargs="+", metavar="run_dir")
    compare.add_argument("--by", default="step", help="align curves by step, epoch or time")
    compare.add_argument("--metric", default="loss", help="the metric whose curves are compared")

    sub.add_parser("launch", add_help=False,
                   help="train in N local processes as one run: launch --processes N -- train ...")

    export = sub.add_parser("export", help="write a saved run as a jax.export folder")
    export.add_argument("run_dir")
    export.add_argument("out_dir")
    export.add_argument("--overwrite", action="store_true", help="replace an existing export")

    serve = sub.add_parser("serve", help="answer POST /predict (or /generate) over HTTP")
    serve.add_argument("dir", help="an export folder, or a saved run (exported in memory)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0: any free port")
    serve.add_argument("--max-batch", type=int, default=64, help="texts per batched call")
    serve.add_argument("--wait-ms", type=float, default=5.0,
                       help="how long a request waits for others to batch with")
    serve.add_argument("--verbose", action="store_true", help="log every request")

    sub.add_parser("list", help="list registered models, datasets, tokenizers and callbacks")

    keys = sub.add_parser("help", help="config keys with defaults, or one model's own keys")
    keys.add_argument("model", nargs="?", help="a registered model (see `list`)")
    return parser


def parse_train_args(tokens: list[str], command: str = "train") -> argparse.Namespace:
    """``train``'s tokens -> its CLI-only options plus every other token, in order, as settings.

    argparse would read ``--lr -1e-3`` as two options and lose the order of
    ``--epochs 2 --set epochs=3``, so the settings go whole to ``jaxtext.settings.parse_tokens``.
    A token after ``--key`` is that key's value (as ``parse_tokens`` reads it), never an option.
    """
    args = argparse.Namespace(command=command, config=None, json=None, quiet=False,
                              help=False, settings=[])
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        option, eq, value = token.partition("=")
        if option in _TRAIN_OPTIONS:
            if not eq:
                if i == len(tokens) or tokens[i].startswith("--"):
                    raise ConfigError(f"{option} needs a value, e.g. {option} "
                                      f"{_TRAIN_OPTIONS[option]}")
                value, i = tokens[i], i + 1
            setattr(args, option[2:], value)
        elif token == "--quiet":
            args.quiet = True
        elif token in ("-h", "--help"):
            args.help = True
        else:
            args.settings.append(token)
            has_value = token == "--set" or (token.startswith("--") and not eq)
            if has_value and i < len(tokens) and (token == "--set" or tokens[i][:2] != "--"):
                args.settings.append(tokens[i])
                i += 1
    return args


def train_config(args: argparse.Namespace) -> dict[str, Any]:
    """``train``'s settings: the ``--config`` file, then the tokens in order (later wins)."""
    from_file = read_settings_file(args.config) if args.config else None
    return merge_settings(from_file, parse_tokens(args.settings))


def run_report(run) -> dict[str, Any]:
    """The JSON written by ``train --json``: task, model, data, params, test, timing."""
    test = dict(run.test_metrics)
    if run.task == "classify" and run.test_report is not None:
        test["confusion_matrix"] = run.test_report.confusion_matrix
    if run.test_report is not None and run.test_report.per_class:
        test["per_class"] = run.test_report.per_class
    return {"task": run.task, "model": run.config.model, "data": run.config.to_dict()["data"],
            "params": run.num_params, "status": run.status, "steps": run.steps,
            "test": test, "timing": dict(run.timing), "config": run.config.to_dict()}


SUMMARY_LAYERS = 8  # layers `train` prints; `python -m jaxtext summary DIR` prints them all


def print_summary(run, file=sys.stdout) -> None:
    print(f"\n{run!r}", file=file)
    print("\n" + run.summary().text(max_rows=SUMMARY_LAYERS), file=file)
    if run.task == "classify" and run.test_report is not None:
        print("\nconfusion matrix (rows: true, columns: predicted)", file=file)
        print(run.confusion_matrix.to_string(), file=file)
    if run.test_report is not None and run.test_report.per_class:
        import pandas as pd

        per_class = pd.DataFrame(run.test_report.per_class).set_index("label")
        print("\n" + per_class.round(4).to_string(), file=file)
    t = run.timing
    if t:
        print(f"\nfirst step {t['first_step_s']:.2f}s, {t['train_examples_per_s']:,.0f} "
              f"examples/s, total {t['total_s']:.1f}s", file=file)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    warnings.formatwarning = lambda message, *rest, **kw: f"warning: {message}\n"
    try:
        if argv[:1] == ["launch"]:
            return cmd_launch(argv[1:])
        if argv[:1] in (["train"], ["lr-find"], ["sweep"]):
            args = parse_train_args(argv[1:], argv[0])
            if args.help:
                print(TRAIN_HELP if argv[0] == "train" else _other_help(argv[0]), end="")
                return 0
        else:
            args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except Cancelled as e:  # Ctrl-C before anything was trained
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    except JaxtextError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_train(args) -> int:
    import jaxtext
    from jaxtext.training.distributed import is_main_process

    settings = train_config(args)
    _check_settings(settings)  # mistakes fail before JAX loads
    config = settings  # a dict: `init` / `resume` build on the keys given here, not defaults
    if args.json:
        _check_writable_file(Path(args.json))
    failure = None
    try:
        run = jaxtext.train(config, callbacks=[] if args.quiet else ["progress"])
    except jaxtext.TrainingError as err:  # diverged: the run keeps its last good weights
        if err.run is None:
            raise
        run, failure = err.run, err
    if not is_main_process():  # one of several processes of a launch: process 0 reports
        return 2 if failure is not None else 0
    print_summary(run)
    if run.saved_to is not None:
        print(f"saved to {run.saved_to}")
    if args.json:
        Path(args.json).write_text(json.dumps(run_report(run), indent=1, default=str) + "\n")
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 2
    return 0


def cmd_launch(tokens: list[str]) -> int:
    from jaxtext.launch import launch, parse_launch_args

    processes, port, command = parse_launch_args(tokens)
    return launch(command, processes, port)


def _check_settings(settings: dict[str, Any]) -> None:
    """The config keys, checked before JAX loads (``lr: suggested`` is the finder's word)."""
    import jaxtext
    from jaxtext.lr_finder import wants_suggested

    suggested = wants_suggested(settings.get("lr"))
    jaxtext.Config.from_dict({k: v for k, v in settings.items()
                              if k not in _SWEEP_KEYS and not (k == "lr" and suggested)})


def cmd_lr_find(args) -> int:
    from jaxtext.cli_lr_find import check_lr_find_settings, lr_find_command

    settings = train_config(args)
    check_lr_find_settings(settings)
    _check_settings(settings)
    if args.json:
        _check_writable_file(Path(args.json))
    return lr_find_command(settings, quiet=args.quiet, json_path=args.json)


def cmd_sweep(args) -> int:
    from jaxtext.cli_sweep import cmd_sweep as sweep

    if args.json:
        _check_writable_file(Path(args.json))
    return sweep(args)


def _other_help(command: str) -> str:
    if command == "lr-find":
        from jaxtext.cli_lr_find import LR_FIND_HELP

        return LR_FIND_HELP
    from jaxtext.cli_sweep import SWEEP_HELP

    return SWEEP_HELP


def _check_writable_file(path: Path) -> None:
    """``--json`` must be writable before minutes of training, not after."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
        if not existed:
            path.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write --json {path} ({err.strerror or err}); pick another "
                          "file") from None


def cmd_list(args) -> int:
    from jaxtext.registry import REGISTRIES

    for title, registry in REGISTRIES.items():
        print(f"{title}:")
        for name, source in registry.sources().items():
            print(f"  {name:<20} {source}")
    return 0


def cmd_help(args) -> int:
    print(keys_text(args.model))
    return 0


COMMANDS = {"train": cmd_train, "lr-find": cmd_lr_find, "sweep": cmd_sweep,
            "predict": cmd_predict, "generate": cmd_generate, "summary": cmd_summary,
            "compare": cmd_compare, "export": cmd_export, "serve": cmd_serve, "list": cmd_list,
            "help": cmd_help}

if __name__ == "__main__":
    sys.exit(main())
