"""``python -m jaxtext``: train, predict, generate and list from the shell.

Thin over the Python API: every flag maps to a config key of ``jaxtext.train``.
Mistakes print one line (``error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from jaxtext.errors import ConfigError, JaxtextError


def parse_assignment(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, YAML-typed value): 'lr=3e-3' -> ('lr', 0.003)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, str) and value.strip() and value.strip()[0].isdigit():
        try:  # YAML 1.1 reads "3e-3" as a string; users mean a number
            parsed = float(value)
        except ValueError:
            pass
    return key.strip(), parsed


def read_config_file(path: str) -> dict[str, Any]:
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file '{path}' is not valid YAML: {e}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file '{path}' must hold key: value lines")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jaxtext", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and print test metrics")
    train.add_argument("--config", help="YAML file with config keys")
    for key, kind in (("model", str), ("data", str), ("task", str), ("epochs", int),
                      ("seed", int), ("batch-size", int), ("lr", float), ("max-len", int),
                      ("tokenizer", str), ("vocab-size", int), ("limit", int), ("name", str)):
        train.add_argument(f"--{key}", type=kind, default=None)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any config key, model keys included (repeatable)")
    train.add_argument("--out", help="save the run to this folder")
    train.add_argument("--json", help="write metrics and timing to this JSON file")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

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

    sub.add_parser("list", help="list registered models, datasets, tokenizers and callbacks")
    return parser


def train_config(args: argparse.Namespace) -> dict[str, Any]:
    values = read_config_file(args.config) if args.config else {}
    for key in ("model", "data", "task", "epochs", "seed", "batch_size", "lr", "max_len",
                "tokenizer", "vocab_size", "limit", "name"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    values.update(parse_assignment(a) for a in args.set)
    return values


def run_report(run) -> dict[str, Any]:
    """The JSON written by ``train --json``: task, model, data, params, test, timing."""
    test = dict(run.test_metrics)
    if run.task == "classify" and run.test_report is not None:
        test["confusion_matrix"] = run.test_report.confusion_matrix
        test["per_class"] = run.test_report.per_class
    return {"task": run.task, "model": run.config.model, "data": run.config.to_dict()["data"],
            "params": run.num_params, "status": run.status, "steps": run.steps,
            "test": test, "timing": dict(run.timing), "config": run.config.to_dict()}


def print_summary(run, file=sys.stdout) -> None:
    print(f"\n{run!r}", file=file)
    if run.task == "classify" and run.test_report is not None:
        print("\nconfusion matrix (rows: true, columns: predicted)", file=file)
        print(run.confusion_matrix.to_string(), file=file)
        import pandas as pd

        per_class = pd.DataFrame(run.test_report.per_class).set_index("label")
        print("\n" + per_class.round(4).to_string(), file=file)
    t = run.timing
    if t:
        print(f"\nfirst step {t['first_step_s']:.2f}s, {t['train_examples_per_s']:,.0f} "
              f"examples/s, total {t['total_s']:.1f}s", file=file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except JaxtextError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def cmd_train(args) -> int:
    import jaxtext

    run = jaxtext.train(train_config(args), callbacks=[] if args.quiet else ["progress"])
    print_summary(run)
    if args.out:
        print(f"saved to {run.save(args.out)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(run_report(run), indent=1, default=str) + "\n")
    return 0


def cmd_predict(args) -> int:
    import jaxtext

    frame = jaxtext.load(args.run_dir).predict(args.texts)
    for _, row in frame.iterrows():
        probs = "  ".join(f"{name}={row[name]:.3f}" for name in frame.columns[2:])
        print(f"{row['label']}\t{probs}\t{row['text']}")
    return 0


def cmd_generate(args) -> int:
    import jaxtext
    from jaxtext.generate import timed_generate

    run = jaxtext.load(args.run_dir)
    samples, tokens_per_s = timed_generate(
        run, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        top_k=args.top_k, top_p=args.top_p, num_samples=args.num_samples, seed=args.seed)
    for i, text in enumerate(samples):
        print(f"--- sample {i + 1}\n{args.prompt}{text}")
    print(f"\n{tokens_per_s:,.0f} tokens/s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"samples": samples, "tokens_per_s": tokens_per_s,
                                               "prompt": args.prompt}, indent=1) + "\n")
    return 0


def cmd_list(args) -> int:
    from jaxtext.registry import REGISTRIES

    for title, registry in REGISTRIES.items():
        print(f"{title}:")
        for name, source in registry.sources().items():
            print(f"  {name:<20} {source}")
    return 0


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "generate": cmd_generate, "list": cmd_list}

if __name__ == "__main__":
    sys.exit(main())
