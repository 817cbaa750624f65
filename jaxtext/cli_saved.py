"""``python -m jaxtext predict|generate|summary|compare|export|serve``: the commands that work
on saved runs (and exported folders) rather than train one. Each is a thin call of the Python
API; ``cli.py`` parses the arguments and turns errors into one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cmd_predict(args) -> int:
    import jaxtext

    frame = jaxtext.load(args.run_dir).predict(args.texts)
    for _, row in frame.iterrows():  # the prediction, then the probabilities, then the text
        answer = row[frame.columns[1]]
        if isinstance(answer, list):  # multilabel: the labels at the run's threshold
            answer = ",".join(answer) or "-"
        elif isinstance(answer, float):  # regression: the number
            answer = f"{answer:.6g}"
        probs = "  ".join(f"{name}={row[name]:.3f}" for name in frame.columns[2:])
        print("\t".join(part for part in (answer, probs, row["text"]) if part))
    return 0


def cmd_generate(args) -> int:
    import jaxtext
    from jaxtext.generate import timed_generate

    run = jaxtext.load(args.run_dir)
    if run.task != "lm":
        run.generate()  # the run's own one-line error: a classifier cannot generate
    samples, tokens_per_s = timed_generate(
        run.model_state, run.tokenizer, args.prompt, max_len=run.dims.max_len,
        name=run.config.model, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        top_k=args.top_k, top_p=args.top_p, num_samples=args.num_samples, seed=args.seed)
    for i, text in enumerate(samples):
        print(f"--- sample {i + 1}\n{args.prompt}{text}")
    print(f"\n{tokens_per_s:,.0f} tokens/s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"samples": samples, "tokens_per_s": tokens_per_s,
                                               "prompt": args.prompt}, indent=1) + "\n")
    return 0


def cmd_summary(args) -> int:
    import jaxtext

    print(jaxtext.load(args.run_dir).summary().text())
    return 0


def cmd_compare(args) -> int:
    import jaxtext

    print(jaxtext.compare(*args.run_dirs, by=args.by, metric=args.metric).text())
    return 0


def cmd_export(args) -> int:
    import jaxtext

    path = jaxtext.load(args.run_dir).export(args.out_dir, overwrite=args.overwrite)
    print(f"exported to {path}")
    return 0


def cmd_serve(args) -> int:
    from jaxtext.serve import serve_from_command_line

    return serve_from_command_line(args.dir, host=args.host, port=args.port,
                                   max_batch=args.max_batch, wait_ms=args.wait_ms,
                                   verbose=args.verbose)
