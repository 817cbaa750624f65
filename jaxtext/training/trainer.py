"""The training loop: prepared data + config -> jitted steps -> events -> ``TrainedState``.

Answering at once. The loop queues about 0.1 s of work ahead of the device (``step_queue.py``),
so a Stop, Ctrl-C or the kernel's interrupt ends training within two long steps or 0.1 s of
short ones, and the step counts views see are steps the device finished. A batch shape seen
for the first time is compiled on a worker thread while the views show a live clock
(``visible_compile.py``); evaluation shows its progress and stops between batches too.
Metric sums stay on the device and are fetched about every half second (or every
``log_every`` steps); the ETA comes from the steady step rate, compiles excluded
(``throughput.py``).

The state keeps the weights of the last finished step. A step whose gradients are not finite is
skipped (the weights stay the last good ones) and training ends with status "failed". The loop
never builds a ``Run``: it returns the trained state, and ``jaxtext.train`` makes the run.

With ``checkpoint_every`` the loop writes checkpoints (``checkpointing.py``), and given a
checkpoint's ``Position`` it continues exactly where that one stopped: same batches in the same
order, same RNG streams, same schedule.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxtext import events as ev
from jaxtext.config import Config, describe_data
from jaxtext.data.prepare import PreparedData
from jaxtext.generate import epoch_samples
from jaxtext.model_summary import summarize
from jaxtext.tasks import higher_is_better, per_text
from jaxtext.training.checkpointing import Checkpointer, Position
from jaxtext.training.distributed import is_main_process
from jaxtext.training.evaluate import EvalHooks, evaluate_split
from jaxtext.training.optim import OptimizerSpec, learning_rate_schedule, make_optimizer
from jaxtext.training.precision import compute_dtype
from jaxtext.training.session import Session, Stopped
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState, TrainedState, copy_arrays, init_model_state
from jaxtext.training.step_queue import StepQueue
from jaxtext.training.steps import train_step_fn, zero_sums
from jaxtext.training.throughput import Throughput
from jaxtext.training.visible_compile import compile_visibly, describe_shape

LOG_EVERY_S = 0.5  # with log_every 0: fetch metrics this often


class Trainer:
    """One training session; ``fit()`` once. Events go to the ``session``'s callbacks.

    ``start``: weights to begin from (``init``: a fresh optimizer and schedule) or, with
    ``position``, a checkpoint to continue (``resume``: its optimizer state, history and place
    in the data). ``out``: the run folder checkpoints go to (``out/checkpoints``).
    """

    def __init__(self, config: Config, prepared: PreparedData, session: Session, *,
                 start: TrainedState | None = None, position: Position | None = None,
                 best_state=None, out: Path | None = None):
        self.config = config
        self.data = prepared
        self.session = session
        self.history = session.history
        if position is not None:  # a resumed run goes on from the checkpoint's history
            for event in start.history.events:
                self.history.update(event)
        self.control = session.control
        self.start = start
        self.position = position or Position()
        self.resuming = position is not None
        self.best_state = best_state  # early stopping: (params, rest) of the best epoch
        # what the task takes from the data (regression's target stats) and from validation
        # (a tuned multilabel threshold, which a resumed run keeps until it tunes again)
        self.task_params = dict(prepared.task_params)
        if position is not None and "threshold" in start.task_params:
            self.task_params["threshold"] = start.task_params["threshold"]
        self.dp = DataParallel(jax.devices())  # every process's devices in a launch
        self.out = out
        self.compiled: set = set()  # (kind, shapes) this session has run once
        self.queue = StepQueue()
        steps, seconds = config.checkpoint_interval
        self.checkpointer = Checkpointer(out, steps=steps, seconds=seconds,
                                         keep=config.keep_checkpoints) \
            if out is not None and (steps or seconds) and is_main_process() else None

    def emit(self, event) -> None:
        self.session.emit(event)

    # -- setup -----------------------------------------------------------------------------

    def _setup(self) -> None:
        cfg, data, dp = self.config, self.data, self.dp
        self.initial = self.start.model if self.start is not None \
            else init_model_state(cfg, data.dims, data)
        self.steps_per_epoch = len(self._train_batches(0))
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.spec = OptimizerSpec.from_config(cfg, self.total_steps)
        tx = make_optimizer(self.spec)
        self.lr_at = learning_rate_schedule(self.spec)
        self.params = dp.replicate(self.initial.params)
        self.rest = dp.replicate(self.initial.rest)
        self.opt_state = dp.replicate(self.start.opt_state if self.resuming
                                      else tx.init(self.initial.params))
        saved = self.position.sums  # a checkpoint between two logs carries its partial sums
        self.sums = dp.replicate({k: jnp.float32(v) for k, v in saved.items()} if saved
                                 else zero_sums())
        self.train_step = train_step_fn(self.initial, tx, cfg.task, self.spec, cfg.loss,
                                        accumulate=cfg.accumulate,
                                        dtype=compute_dtype(cfg.precision, dp.platform))
        self.prompt = cfg.prompt or data.default_prompt()

    def _train_batches(self, epoch: int):
        """An epoch's shuffled batches of ``batch_size x accumulate``, split evenly over the
        devices and into the micro-batches (``steps.split_micro_batches``)."""
        accumulate = self.config.accumulate
        return self.data.batches("train", epoch=epoch, shuffle=True, per_step=accumulate,
                                 pad_to_multiple=self.dp.num_devices * accumulate)

    def model_now(self) -> ModelState:
        return self.initial._replace(params=self.params, rest=self.rest)

    def trained_state(self) -> TrainedState:
        data = self.data
        return TrainedState(config=self.config, tokenizer=data.tokenizer,
                            label_names=tuple(data.label_names), dims=data.dims,
                            model=self.model_now(), opt_state=self.opt_state,
                            total_steps=self.spec.total_steps, history=self.history,
                            step=self.position.step, data=data,
                            task_params=dict(self.task_params))

    def _begin(self) -> None:
        cfg, data = self.config, self.data
        name = cfg.name or f"{cfg.model}-{describe_data(cfg.data).split(':')[-1]}"
        old = [e for e in self.history.events if not isinstance(e, ev.TrainBegin)]
        self.emit(ev.TrainBegin(
            run_name=name, task=cfg.task, model=cfg.model, data=describe_data(cfg.data),
            config=cfg.to_dict(), num_params=self.initial.num_params,
            devices=self.dp.describe(),
            dataset_sizes={s: data.size(s) for s in ("train", "validation", "test")},
            label_names=data.label_names, epochs=cfg.epochs,
            steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
            batch_size=cfg.batch_size * cfg.accumulate, out=str(self.out or ""),
            resumed_at=self.position.step,
            model_summary=summarize(self.initial, self.opt_state, cfg.model).to_dict()))
        for event in old:  # a resumed run: the views draw what happened before the checkpoint
            for view in self.session.views:
                view(event)

    # -- the loop --------------------------------------------------------------------------

    def fit(self) -> TrainedState:
        """Train; the session's stop control and Ctrl-C handling must be in place."""
        cfg, pos = self.config, self.position
        self._setup()
        self._begin()
        self.speed = Throughput(pos.step, pos.examples)
        status, message = "completed", ""
        try:
            for epoch in range(pos.epoch, cfg.epochs + 1):
                pos.epoch = epoch
                self._train_epoch(epoch)
                if self.control.stop_requested:
                    status, message = "interrupted", self.control.reason or "interrupted"
                    self._checkpoint(f"step-{pos.step:08d}")  # resume from exactly here
                    self.emit(ev.Interrupt(step=pos.step, epoch=epoch, reason=message))
                    break
                try:
                    early = self._end_epoch(epoch)
                except Stopped:
                    status = "interrupted"
                    message = (f"{self.control.reason or 'interrupted'} during the validation "
                               f"of epoch {epoch}")
                    self.emit(ev.Interrupt(step=pos.step, epoch=epoch, reason=message))
                    break
                if early:
                    status = "early_stopped"
                    message = (f"no {cfg.monitor_metric} improvement for {pos.bad_epochs} "
                               f"epochs; restored the best weights ({cfg.monitor_metric} "
                               f"{pos.best_value:.4f})")
                    break
                pos.epoch, pos.batch = epoch + 1, 0
        except _Diverged as err:
            return self._finish("failed", f"training diverged at step {err.step}: the loss "
                                f"became NaN/inf. The run keeps the last good weights; try a "
                                f"lower lr (now {cfg.lr:g}) or grad_clip")
        except BaseException:
            self._close_checkpoints()
            self.data.close()
            self.emit(ev.TrainEnd(step=pos.step, elapsed_s=self.session.elapsed(),
                                  status="failed", message="error during training", test=None))
            raise
        if self.best_state is not None:
            self.params, self.rest = self.best_state
        if status == "interrupted":
            return self._finish(status, message)
        try:
            result = self._evaluate("test")
        except Stopped:
            reason = self.control.reason or "interrupted"
            message = f"{reason} during the test evaluation: the run has no test metrics"
            self.emit(ev.Interrupt(step=pos.step, epoch=min(pos.epoch, cfg.epochs),
                                   reason=message))
            return self._finish("interrupted", message)
        self.emit(result)
        return self._finish(status, message if status != "completed" else "",
                            dict(result.metrics))

    def _train_epoch(self, epoch: int) -> None:
        cfg, pos, dp = self.config, self.position, self.dp
        batches = self._train_batches(epoch - 1)
        self.session.phase("train", f"epoch {epoch}/{cfg.epochs}", pos.step, self.total_steps)
        self.speed.start_epoch()
        self.queue.clear()
        self.queue.restart()
        for batch in batches[pos.batch:]:  # a resumed epoch skips what the checkpoint saw
            if self.control.stop_requested:
                break
            args = (self.params, self.rest, self.opt_state, self.sums, dp.shard_batch(batch))
            shape = ("train", batch[0].shape)
            timed_apart = shape not in self.compiled
            if not timed_apart:
                outputs = self.train_step(*args)
            else:  # compile where the clock keeps ticking; the copies keep the weights safe
                started = time.perf_counter()
                try:
                    outputs = self._compile(self.train_step, args, shape, donated=4)
                except Stopped:
                    break
                self.speed.leave_out(time.perf_counter() - started)
                self.queue.restart()
            self.params, self.rest, self.opt_state, self.sums, loss = outputs
            pos.step += 1
            pos.batch += 1
            examples = int(batch.weights.sum()) if per_text(cfg.task) \
                else int(batch.weights.shape[0])
            pos.examples += examples
            self.speed.count(pos.examples, examples, compiled=timed_apart,
                             elapsed_s=self.session.elapsed())
            self.queue.push(loss)  # waits while more is queued than a stop should wait for
            self.session.tick(pos.step - len(self.queue))
            if (pos.step % cfg.log_every == 0 if cfg.log_every
                    else self.speed.window_s() >= LOG_EVERY_S):
                self._log(epoch)
            if self.checkpointer is not None and self.checkpointer.due(pos.step):
                self._checkpoint(f"step-{pos.step:08d}")
            if cfg.task == "lm" and cfg.sample_every and pos.step % cfg.sample_every == 0:
                self._samples(epoch)
        self._log(epoch)
        jax.block_until_ready(self.params)
        self.session.tick(pos.step)
        self.speed.end_epoch()

    def _compile(self, step, args: tuple, shape: tuple, donated: int = 0):
        """The first call of ``step`` for a (kind, dims) shape, compiled visibly."""
        kind, dims = shape
        outputs, _, _ = compile_visibly(self.session, step, args,
                                        f"the {kind} step for {describe_shape(dims)}", donated)
        self.compiled.add(shape)
        return outputs

    def _log(self, epoch: int) -> None:
        pos = self.position
        if pos.step == self.speed.window_step:
            return
        fetched = self.dp.fetch(self.sums)
        notfinite = int(self.dp.fetch(self.opt_state.total_notfinite))
        self.sums = self.dp.replicate(zero_sums())
        count = max(float(fetched["count"]), 1.0)
        loss = float(fetched["loss"]) / count
        if notfinite or not math.isfinite(loss):
            raise _Diverged(pos.step)
        rate, eta_s = self.speed.close_window(pos.step, pos.examples, self.total_steps)
        self.emit(ev.StepLog(
            step=pos.step, epoch=epoch, total_steps=self.total_steps,
            examples_seen=pos.examples, examples_per_s=rate,
            elapsed_s=self.session.elapsed(),
            eta_s=eta_s,
            lr=float(self.lr_at(pos.step)), loss=loss,
            accuracy=(float(fetched["correct"]) / count
                      if self.config.task == "classify" else None)))

    def _evaluate(self, split: str) -> ev.EvalResult:
        """Evaluate the current weights on a split; ``Stopped`` if a stop comes meanwhile."""
        self.session.phase("evaluate", f"evaluating {split}")
        epoch = min(self.position.epoch, self.config.epochs)  # the last one trained, at the end
        return evaluate_split(self.model_now(), self.data, split, dp=self.dp,
                              epoch=epoch, step=self.position.step,
                              hooks=_TrainerEvalHooks(self, split),
                              limit=self.config.eval_limit, task_params=self.task_params,
                              tune=split == "validation")

    def _end_epoch(self, epoch: int) -> bool:
        """Validation, best weights, epoch-end samples; True when early stopping ends it."""
        cfg, pos = self.config, self.position
        result = self._evaluate("validation")
        self.emit(result)
        value = result.metrics[cfg.monitor_metric]
        improved = pos.best_value is None or (
            value > pos.best_value if higher_is_better(cfg.monitor_metric)
            else value < pos.best_value)
        if "threshold" in result.metrics and (improved or not cfg.early_stopping):
            self.task_params["threshold"] = result.metrics["threshold"]  # of the kept weights
        if improved:
            pos.best_value, pos.bad_epochs = value, 0
            if cfg.early_stopping:
                self.best_state = copy_arrays((self.params, self.rest))
        else:
            pos.bad_epochs += 1
        self.emit(ev.EpochEnd(epoch=epoch, step=pos.step, elapsed_s=self.session.elapsed(),
                              train=self.history.last_train_metrics(),
                              validation=dict(result.metrics), is_best=improved))
        if improved:
            self._checkpoint("best", resumable=False)
        if cfg.task == "lm" and not (cfg.sample_every and pos.step % cfg.sample_every == 0):
            self._samples(epoch)
        return bool(cfg.early_stopping and pos.bad_epochs >= cfg.early_stopping)

    def _samples(self, epoch: int) -> None:
        if self.config.sample_tokens == 0:
            return
        self.session.phase("samples", "sampling from the model")
        samples = epoch_samples(self._local_model(), self.data.tokenizer, self.config,
                                prompt=self.prompt, max_len=self.data.dims.max_len,
                                epoch=epoch, step=self.position.step)
        self.emit(samples)

    # -- checkpoints and the end -----------------------------------------------------------

    def _checkpoint(self, name: str, resumable: bool = True) -> None:
        if self.checkpointer is None:
            return
        self.position.sums = {k: float(v) for k, v in jax.device_get(self.sums).items()}
        self.position.elapsed_s = self.session.elapsed()
        self.checkpointer.save(name, self.trained_state(),
                               self.position if resumable else None, self.best_state)

    def _close_checkpoints(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()

    def _local_model(self) -> ModelState:
        """The weights as this process's own arrays (sampling and the finished run use them;
        the same arrays as ``model_now`` unless several processes train together)."""
        model = self.model_now()
        return model._replace(params=self.dp.to_local(model.params),
                              rest=self.dp.to_local(model.rest))

    def _finish(self, status: str, message: str, test=None) -> TrainedState:
        self._close_checkpoints()
        self.data.close()  # a stream's reader thread
        if self.dp.multiprocess:  # the run predicts and generates on this process alone
            local = self._local_model()
            self.params, self.rest = local.params, local.rest
            self.opt_state = self.dp.to_local(self.opt_state)
        self.emit(ev.TrainEnd(step=self.position.step, elapsed_s=self.session.elapsed(),
                              status=status, message=message, test=test,
                              timing=self.speed.timing(self.position.examples,
                                                       self.session.elapsed())))
        return self.trained_state()


class _TrainerEvalHooks(EvalHooks):
    """Evaluation inside training: visible compiles, progress twice a second, stops."""

    def __init__(self, trainer: Trainer, split: str):
        self.trainer, self.split = trainer, split
        self.next_report = 0.0

    def call(self, step, args: tuple, shape: tuple):
        if self.trainer.control.stop_requested:
            raise Stopped
        key = ("eval", shape[0])
        if key in self.trainer.compiled:
            return step(*args)
        return self.trainer._compile(step, args, key)

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now >= self.next_report or done == total:
            self.next_report = now + LOG_EVERY_S
            self.trainer.session.phase(
                "evaluate", f"evaluating {self.split}: batch {done:,}/{total:,}", done, total)
        self.trainer.session.tick()


class _Diverged(Exception):
    def __init__(self, step: int):
        self.step = step
