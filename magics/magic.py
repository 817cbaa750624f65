"""The IPython magics: a thin shell over ``jaxtext.train`` and ``Run.generate`` / ``Run.predict``.

Parsing lives in ``parsing.py`` and display text in ``reports.py``; this file only wires them
to the shell: read the line and body, call the Python API, bind the result in the user
namespace, and turn every ``JaxtextError`` into a one-line ``UsageError`` (no traceback).
"""

from __future__ import annotations

import os
import shlex

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Dict, List, Unicode, Union

import jaxtext
from jaxtext import JaxtextError, TrainingError, settings

from . import reports
from .parsing import (
    LR_FIND_USAGE,
    CompareCommand,
    PredictCommand,
    SweepCommand,
    TrainCommand,
    find_run,
)

_GENERATE_OPTIONS = ("max_new_tokens", "temperature", "top_k", "top_p", "num_samples", "seed")
_SUBCOMMANDS = ("list", "runs", "summary", "compare", "help", "export")


def _callback_list(views):
    """'auto' stays; 'none' -> []; 'progress,json' -> ['progress', 'json']; lists pass."""
    if isinstance(views, str) and views != "auto":
        return [] if views.lower() == "none" else [v.strip() for v in views.split(",") if v.strip()]
    return views


@magics_class
class JaxtextMagics(Magics):
    """``%%train``, ``%train``, ``%%lr_find``, ``%lr_find``, ``%%sweep``, ``%%generate``,
    ``%predict`` / ``%%predict`` and ``%jaxtext``."""

    callbacks = Union(
        [Unicode(), List(Unicode())],
        default_value="auto",
        help="Views for %%train when the cell names none: 'auto' (the trainer picks the notebook "
        "dashboard in a kernel, the progress bar elsewhere) or registered names, e.g. "
        "['progress', 'json'].",
    ).tag(config=True)
    show_dashboard = Bool(
        True,
        help="False keeps the widget dashboard out of the default callbacks ('auto' becomes the "
        "terminal progress bar); a cell's own --callbacks still wins.",
    ).tag(config=True)
    defaults = Dict(
        help="Config keys applied under every %%train body, e.g. {'limit': 2000, 'epochs': 1}.",
    ).tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.records: list[reports.RunRecord] = []  # runs made by %%train, oldest first

    # -- training ---------------------------------------------------------------------------

    @no_var_expand  # `$df` means the object df, not its text; parsing.py resolves it
    @line_cell_magic
    def train(self, line: str, cell: str | None = None):
        """Train a model; the run is bound to NAME (also when stopped early or failed).

        %%train NAME [--key VALUE | --set key=VALUE | key=VALUE ...]
        model: lstm            # cell body: YAML, the keys of jaxtext.train / `%jaxtext help`
        data: $df              # $name = the notebook variable `name` (DataFrame, Dataset, list)

        %train NAME key=VALUE ...   (the one-line form)

        Line settings override the body. `--callbacks progress,json` picks the views
        (default: %config JaxtextMagics.callbacks). Ctrl-C / interrupt stops at the next
        step and binds the run with the weights so far.
        """
        try:
            command = TrainCommand.parse(line, cell or "", self._variables(), self.defaults)
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        name = command.name
        try:
            run = jaxtext.train(command.config, callbacks=self._views(command.callbacks))
        except TrainingError as err:
            if err.run is None:
                raise UsageError(str(err)) from None
            self._bind(name, err.run)
            raise UsageError(f"{err} (`{name}` holds that run)") from None
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        except KeyboardInterrupt:
            raise UsageError(f"interrupted; `{name}` is unchanged") from None
        self._bind(name, run)
        print(reports.summary_line(name, run))

    @no_var_expand
    @line_cell_magic
    def lr_find(self, line: str, cell: str | None = None):
        """Sweep the learning rate for the run `%%train` would make; bind the result to NAME.

        %%lr_find NAME [--steps 100 --start-lr 1e-7 --end-lr 10 | other %%train flags]
        model: lstm            # the same body as %%train (its lr is not used)

        Draws loss against learning rate while it runs. Then `lr: $NAME.suggested` in a
        %%train body trains with the suggested rate (or `lr: suggested` does both at once).
        Stopping keeps the curve so far.
        """
        try:
            command = TrainCommand.parse(line, cell or "", self._variables(), self.defaults,
                                         usage=LR_FIND_USAGE)
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        name = command.name
        config = {k: v for k, v in command.config.items() if k != "name"}
        try:  # a configured 'dashboard' view becomes the finder's chart
            finder = jaxtext.lr_find(config, callbacks=self._views(command.callbacks))
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        except KeyboardInterrupt:
            raise UsageError(f"interrupted; `{name}` is unchanged") from None
        self.shell.user_ns[name] = finder
        print(f"{name}: {finder.summary()}\n{finder.rule}; train with it: `lr: ${name}.suggested`")

    @cell_magic
    def sweep(self, line: str, cell: str):
        """Train every configuration of a grid; the SweepResult is bound to NAME.

        %%sweep NAME [--key VALUE ...] [--sweep KEY=V1,V2 ...]
        model: mlp             # the keys every configuration shares (as in %%train)
        sweep:                 # swept keys, each a list: the grid is their product
          lr: [1e-3, 3e-3, 1e-2]
          seed: [0, 1]

        Configurations that differ only in lr, weight_decay, grad_clip or seed train together
        (one vmapped step). NAME.table ranks them; NAME.best is the best run. The live view is
        the sweep dashboard in a kernel (`--callbacks sweep_progress` for the terminal one).
        Ctrl-C / interrupt stops and binds what was trained so far.
        """
        try:
            command = SweepCommand.parse(line, cell or "", self._variables(), self.defaults)
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        views = command.callbacks if command.callbacks is not None else \
            ("auto" if self.show_dashboard else "sweep_progress")
        try:
            result = jaxtext.sweep(command.config, callbacks=_callback_list(views),
                                   **command.sweep)
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        except KeyboardInterrupt:
            raise UsageError(f"interrupted; `{command.name}` is unchanged") from None
        self.shell.user_ns[command.name] = result
        for index, run in zip(result.indices, result.runs, strict=True):
            self.records.append(reports.RunRecord.of(f"{command.name}[{index}]", run))
        print(reports.sweep_line(command.name, result))

    def _views(self, requested):
        """The ``callbacks=`` argument: the cell's own choice wins over the configured default.

        ``show_dashboard=False`` changes only the default: 'auto' becomes the progress bar and
        'dashboard' is dropped from a list.
        """
        if requested is not None:
            return _callback_list(requested)
        views = _callback_list(self.callbacks)
        if not self.show_dashboard:
            views = ["progress"] if views == "auto" else [v for v in views if v != "dashboard"]
        return views

    def _variables(self) -> dict:
        """The user's variables, as `%who` sees them (not IPython's own, such as `open`)."""
        hidden, missing = self.shell.user_ns_hidden, object()
        return {k: v for k, v in self.shell.user_ns.items() if v is not hidden.get(k, missing)}

    def _bind(self, name: str, run) -> None:
        self.shell.user_ns[name] = run
        self.records.append(reports.RunRecord.of(name, run))

    # -- using a run ------------------------------------------------------------------------

    @magic_arguments()
    @argument("name", help="variable holding a language-model run")
    @argument("--max-new-tokens", type=int, help="tokens to sample after the prompt")
    @argument("--temperature", type=float, help="softmax temperature (0 = greedy)")
    @argument("--top-k", type=int, help="sample among the k most likely tokens")
    @argument("--top-p", type=float, help="sample among the tokens holding probability p")
    @argument("--num-samples", type=int, help="how many continuations")
    @argument("--seed", type=int, help="sampling seed")
    @cell_magic
    def generate(self, line: str, cell: str):
        """Sample continuations of the prompt in the cell body: run.generate(prompt, ...),
        each token shaded by the probability the model gave it."""
        args = parse_argstring(self.generate, line)
        options = {k: getattr(args, k) for k in _GENERATE_OPTIONS if getattr(args, k) is not None}
        try:
            run = find_run(args.name, self._variables(), "generate")
            prompt = cell.rstrip("\n")
            samples, probs = run.generate(prompt, return_probs=True, **options)
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        # shaded by probability where HTML shows, the plain samples everywhere else
        display(jaxtext.display.GeneratedText(prompt, samples, probs))

    @no_var_expand  # `$texts` means the list texts; parsing.py resolves it
    @line_cell_magic
    def predict(self, line: str, cell: str | None = None):
        """Classify texts with a run and show run.predict(texts) (a DataFrame).

        %predict NAME some text        one text: the rest of the line
        %predict NAME $texts           a str or list of str from the notebook
        %%predict NAME                 one text per line of the cell body
        """
        try:
            command = PredictCommand.parse(line, cell, self._variables())
            run = find_run(command.name, self._variables(), "predict")
            return run.predict(command.texts)
        except JaxtextError as err:
            raise UsageError(str(err)) from None

    # -- inspecting ---------------------------------------------------------------------------

    def _export(self, words: list[str]) -> None:
        overwrite = "--overwrite" in words
        words = [w for w in words if w != "--overwrite"]
        if len(words) != 2:
            raise UsageError("usage: %jaxtext export NAME PATH [--overwrite]")
        run = find_run(words[0], self._variables(), "export")
        print(f"exported {words[0]} to {run.export(words[1], overwrite=overwrite)}")

    @line_magic
    def jaxtext(self, line: str):
        """%jaxtext list [KIND] | runs | summary NAME | compare A B ... | help [MODEL]
        | export NAME PATH [--overwrite] (see `%jaxtext help`)"""
        command, *rest = line.split() or ["help"]
        try:
            if command == "summary":
                if len(rest) != 1:
                    raise UsageError("usage: %jaxtext summary NAME (a run in the notebook)")
                # top_losses: a method only a Run has (Keras models have a summary() too)
                return find_run(rest[0], self._variables(), "top_losses").summary()
            if command == "compare":
                return self._compare(line.strip()[len("compare"):])
            if command == "export":
                try:
                    words = shlex.split(line)[1:]
                except ValueError as err:  # an unclosed quote
                    raise UsageError(f"%jaxtext export: {err}; quote paths with spaces") from None
                return self._export(words)
            if command == "list":
                return reports.registry_table(rest)
            if command == "runs":
                if not self.records:
                    print("no runs yet: train one with %%train NAME")
                    return None
                return reports.runs_table(self.records)
            if command == "help":
                print(reports.help_text(rest[0] if rest else None))
                return None
        except JaxtextError as err:
            raise UsageError(str(err)) from None
        raise UsageError(
            f"unknown command '{command}'{settings.did_you_mean(command, _SUBCOMMANDS)}; "
            f"%jaxtext {' | '.join(_SUBCOMMANDS)}"
        )

    def _compare(self, line: str):
        """``%jaxtext compare a b runs/c --by epoch --metric accuracy``: each word a run in the
        notebook or a saved run folder; the comparison draws itself (chart and tables)."""
        args = CompareCommand.parse(line)
        variables = self._variables()
        runs = [name if name not in variables and ("/" in name or os.path.isdir(name))
                else find_run(name, variables, "top_losses") for name in args.runs]
        return jaxtext.compare(*runs, by=args.by, metric=args.metric)
