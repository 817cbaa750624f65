"""The training loop of a sweep: each group's configurations trained together by vmapped steps.

The K configurations of a group share the model's structure, so their parameters, the rest of
their model state (dropout RNG keys, seeded per config) and their optimizer states are stacked
along a new leading axis, in chunks of at most ``CHUNK_TOKENS`` token slots, and the train
step is ``jax.vmap``-ed over a chunk. Their learning rates, weight decays and clipping
thresholds enter the step as traced float32 arrays (the optimizer is built inside the step
with ``make_optimizer``), so one compile and one dispatch per chunk and step serve them. Every configuration sees the same
batches in the same order. The step itself is in ``sweep_step.py``; validation and test
evaluation run per configuration with ``evaluate_split``. Each configuration has its own
``History``; views get its events wrapped as ``SweepItem(index, event)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np

from jaxtext import events as ev
from jaxtext.config import Config, describe_data
from jaxtext.data.prepare import PreparedData, prepare_data
from jaxtext.errors import Cancelled
from jaxtext.history import History
from jaxtext.sweeps import SweepPlan, data_key, rank_rows, summary_row
from jaxtext.training.evaluate import EvalHooks, evaluate_split
from jaxtext.training.optim import OptimizerSpec, learning_rate_schedule, make_optimizer
from jaxtext.training.session import Session, Stopped
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState, TrainedState, init_model_state
from jaxtext.training.sweep_step import chunk_slices, stack_configs, sweep_step_fn, take_config
from jaxtext.training.visible_compile import compile_visibly, describe_shape

IN_FLIGHT = 4  # steps queued ahead of the device (a stop waits for at most these)
LOG_EVERY_S = 0.5  # with log_every 0: fetch metrics this often
# token slots (batch rows x max_len, all configurations) per vmapped call: the default mlp's 8
# configurations (64 x 1024 each) in one call ran 2-4x slower than 8 single steps on wide
# batches, as two calls of 4 about half that; short steps stay in one call (see
# benchmarks/README.md, "Why 8 configurations together are not 2x faster here")
CHUNK_TOKENS = 4 * 64 * 1024


def train_sweep(plan: SweepPlan, session: Session) -> dict[int, TrainedState]:
    """Train every group of ``plan`` in turn; a stop ends the current group (its runs
    "interrupted") and starts no other. Returns the trained states by configuration."""
    session.emit(ev.SweepBegin(name=plan.name, keys=list(plan.keys), values=plan.values,
                               groups=plan.groups, monitor=plan.monitor,
                               higher_is_better=plan.higher_is_better))
    prepared: dict[tuple, PreparedData] = {}
    trained: dict[int, TrainedState] = {}
    for group in plan.groups:
        if session.control.stop_requested:
            break
        configs = [plan.configs[i] for i in group]
        data_config = configs[0].replace(seed=plan.data_seed)
        key = data_key(data_config)
        try:
            if key not in prepared:
                session.phase("data", f"preparing {describe_data(data_config.data)}")
                prepared[key] = session.wait_for(lambda c=data_config: prepare_data(c))
        except Stopped:
            break
        data = dataclasses.replace(prepared[key], config=data_config)
        trained.update(zip(group, GroupTrainer(configs, group, data, session).fit(),
                           strict=True))
    status = "interrupted" if session.control.stop_requested else "completed"
    if not trained:
        session.emit(ev.SweepEnd(status="cancelled", elapsed_s=session.elapsed(), table=[]))
        raise Cancelled("stopped before the sweep trained anything")
    rows = [summary_row(i, plan.values[i], state.history) for i, state in trained.items()]
    session.emit(ev.SweepEnd(status=status, elapsed_s=session.elapsed(),
                             table=rank_rows(rows, plan.monitor, plan.higher_is_better)))
    return trained


class GroupTrainer:
    """One group of configurations (``indices`` into the sweep), trained together; ``fit()``."""

    def __init__(self, configs: list[Config], indices: list[int], data: PreparedData,
                 session: Session):
        self.configs, self.indices, self.data, self.session = configs, indices, data, session
        self.histories = [History() for _ in configs]
        self.control = session.control
        self.dp = DataParallel()
        self.step = self.examples = self.epoch = 0
        self.failed: dict[int, str] = {}  # config (local) -> why it failed (diverged)
        self.best: list[float | None] = [None] * len(configs)
        self.compiled: set = set()
        self.train_s = 0.0
        self.first_step_s: float | None = None

    def emit(self, i: int, event) -> None:
        self.histories[i].update(event)
        self.session.emit(ev.SweepItem(index=self.indices[i], event=event))

    def _setup(self) -> None:
        cfg, data = self.configs[0], self.data
        self.initial = [init_model_state(c, data.dims, data) for c in self.configs]
        self.steps_per_epoch = len(data.batches("train", epoch=0, shuffle=True))
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.specs = [OptimizerSpec.from_config(c, self.total_steps) for c in self.configs]
        # per chunk of configurations, (params, rest, opt_state, sums) stacked along a leading
        # axis; placed as the step's outputs are (on the data mesh), so the step compiles once
        put = self.dp.replicate
        most = max(1, CHUNK_TOKENS // (cfg.batch_size * cfg.max_len))
        self.chunks = chunk_slices(len(self.configs), most)
        self.state = []
        for chunk in self.chunks:
            models, specs = self.initial[chunk], self.specs[chunk]
            self.state.append(put((
                stack_configs([m.params for m in models]), stack_configs([m.rest for m in models]),
                stack_configs([make_optimizer(s).init(m.params)
                               for s, m in zip(specs, models, strict=True)]),
                self._zero_sums(len(models)))))
        self.hyper = [put({k: jnp.asarray([getattr(s, k) for s in self.specs[chunk]], jnp.float32)
                           for k in ("lr", "weight_decay", "grad_clip")}) for chunk in self.chunks]
        self.train_step = sweep_step_fn(self.initial[0], self.specs[0], cfg.task,
                                        cfg.grad_clip > 0)

    def _zero_sums(self, k: int) -> dict:
        return self.dp.replicate({name: jnp.zeros((k,)) for name in ("loss", "correct", "count")})

    def _stacked(self, i: int, part: int):
        """Configuration ``i``'s slice of ``part`` (0 params, 1 rest, 2 opt_state) of its chunk."""
        j = next(j for j, chunk in enumerate(self.chunks) if i < chunk.stop)
        return take_config(self.state[j][part], i - self.chunks[j].start)

    def model(self, i: int) -> ModelState:
        return self.initial[i]._replace(params=self._stacked(i, 0), rest=self._stacked(i, 1))

    def fit(self) -> list[TrainedState]:
        cfg = self.configs[0]
        self._setup()
        for i, c in enumerate(self.configs):
            self.emit(i, ev.TrainBegin(
                run_name=c.name, task=c.task, model=c.model, data=describe_data(c.data),
                config=c.to_dict(), num_params=self.initial[i].num_params,
                devices=self.dp.describe(),
                dataset_sizes={s: self.data.size(s) for s in ("train", "validation", "test")},
                label_names=self.data.label_names, epochs=c.epochs,
                steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                batch_size=c.batch_size))
        self.last_log = {"time": time.perf_counter(), "step": 0, "examples": 0}
        status, message = "completed", ""
        tests: dict[int, ev.EvalResult] = {}
        try:
            for epoch in range(1, cfg.epochs + 1):
                self.epoch = epoch
                self._train_epoch(epoch)
                if self.control.stop_requested:
                    status = "interrupted"
                    break
                self._validate(epoch)
            if status == "completed":
                for i in self._alive():
                    tests[i] = self._evaluate(i, "test", cfg.epochs)
        except Stopped:
            status = "interrupted"
        except BaseException:
            for i in range(len(self.configs)):
                self.emit(i, ev.TrainEnd(step=self.step, elapsed_s=self.session.elapsed(),
                                         status="failed", message="error during training",
                                         test=None))
            raise
        if status == "interrupted":
            message = self.control.reason or "interrupted"
        return [self._finish(i, status, message, tests) for i in range(len(self.configs))]

    def _alive(self) -> list[int]:
        return [i for i in range(len(self.configs)) if i not in self.failed]

    def _train_epoch(self, epoch: int) -> None:
        cfg = self.configs[0]
        batches = self.data.batches("train", epoch=epoch - 1, shuffle=True)
        self.session.phase("train", f"epoch {epoch}/{cfg.epochs}", self.step, self.total_steps)
        clock = time.perf_counter()
        pending = deque()
        for batch in batches:
            if self.control.stop_requested:
                break
            sharded = self.dp.shard_batch(batch)
            calls = [(*state, hyper, sharded) for state, hyper in zip(self.state, self.hyper,
                                                                      strict=True)]
            started = time.perf_counter()
            compiled = self._compile_new(calls, batch[0].shape)  # chunk -> its outputs
            if compiled is None:
                break
            if compiled:
                clock += time.perf_counter() - started
                self.last_log["time"] += time.perf_counter() - started
            for j, args in enumerate(calls):
                outputs = compiled[j] if j in compiled else self.train_step(*args)
                self.state[j] = outputs[:4]
            pending.append(outputs[4])
            self.step += 1
            self.examples += int(batch.weights.sum()) if cfg.task == "classify" \
                else int(batch.weights.shape[0])
            if self.first_step_s is None:
                self.first_step_s = self.session.elapsed()
            while len(pending) > IN_FLIGHT:
                pending.popleft().block_until_ready()
            self.session.tick(self.step - len(pending))
            if (self.step % cfg.log_every == 0 if cfg.log_every
                    else time.perf_counter() - self.last_log["time"] >= LOG_EVERY_S):
                self._log(epoch)
        self._log(epoch)
        jax.block_until_ready(self.state)
        self.session.tick(self.step)
        self.train_s += time.perf_counter() - clock

    def _compile_new(self, calls: list[tuple], shape: tuple) -> dict | None:
        """Steps of the chunks whose (batch shape, chunk size) has not been compiled yet, by
        chunk, compiled before any chunk steps (so a stop mid-compile leaves every chunk at
        the same step); None when stopped."""
        done = {}
        for j, args in enumerate(calls):
            key = (shape, self.chunks[j].stop - self.chunks[j].start)
            if key not in self.compiled:
                done[j] = self._compile(args, key)
                if done[j] is None:
                    return None
        return done

    def _compile(self, args: tuple, key: tuple):
        """The first step of a batch shape, compiled visibly; None if a stop came meanwhile."""
        shape, k = key
        try:
            outputs, _, _ = compile_visibly(
                self.session, self.train_step, args,
                f"the step of {k} configurations for {describe_shape(shape)}", donated=4)
        except Stopped:
            return None
        self.compiled.add(key)
        return outputs

    def _log(self, epoch: int) -> None:
        if self.step == self.last_log["step"]:
            return
        # one fetch for every configuration
        chunks = jax.device_get([(state[3], state[2].total_notfinite) for state in self.state])
        fetched = {k: np.concatenate([sums[k] for sums, _ in chunks]) for k in chunks[0][0]}
        notfinite = np.concatenate([counts for _, counts in chunks])
        self.state = [(*state[:3], self._zero_sums(len(state[3]["loss"])))
                      for state in self.state]
        now = time.perf_counter()
        dt = max(now - self.last_log["time"], 1e-9)
        rate = (self.examples - self.last_log["examples"]) / dt
        steps_per_s = (self.step - self.last_log["step"]) / dt
        self.last_log.update(time=now, step=self.step, examples=self.examples)
        for i in self._alive():
            count = max(float(fetched["count"][i]), 1.0)
            loss = float(fetched["loss"][i]) / count
            if int(notfinite[i]) or not math.isfinite(loss):
                self.failed[i] = (f"training diverged by step {self.step}: the loss became "
                                  f"NaN/inf; try a lower lr (now {self.configs[i].lr:g}) "
                                  f"or grad_clip")
                continue
            self.emit(i, ev.StepLog(
                step=self.step, epoch=epoch, total_steps=self.total_steps,
                examples_seen=self.examples, examples_per_s=rate,
                elapsed_s=self.session.elapsed(),
                eta_s=(self.total_steps - self.step) / max(steps_per_s, 1e-9),
                lr=float(learning_rate_schedule(self.specs[i])(self.step)), loss=loss,
                accuracy=(float(fetched["correct"][i]) / count
                          if self.configs[i].task == "classify" else None)))

    def _evaluate(self, i: int, split: str, epoch: int) -> ev.EvalResult:
        result = evaluate_split(self.model(i), self.data, split, dp=self.dp, epoch=epoch,
                                step=self.step, hooks=_StopHooks(self, split, i),
                                limit=self.configs[i].eval_limit)
        self.emit(i, result)
        return result

    def _validate(self, epoch: int) -> None:
        for i in self._alive():
            cfg = self.configs[i]
            value = self._evaluate(i, "validation", epoch).metrics[cfg.monitor_metric]
            higher = cfg.monitor_metric in ("accuracy", "macro_f1")
            best = self.best[i]
            improved = best is None or (value > best if higher else value < best)
            if improved:
                self.best[i] = value
            history = self.histories[i]
            self.emit(i, ev.EpochEnd(epoch=epoch, step=self.step,
                                     elapsed_s=self.session.elapsed(),
                                     train=history.last_train_metrics(),
                                     validation=dict(history.evals["validation"].metrics),
                                     is_best=improved))

    def _finish(self, i: int, status: str, message: str, tests: dict) -> TrainedState:
        test = tests.get(i)
        if i in self.failed:
            status, message = "failed", self.failed[i]
        elif status == "interrupted":
            self.emit(i, ev.Interrupt(step=self.step, epoch=self.epoch, reason=message))
        self.emit(i, ev.TrainEnd(
            step=self.step, elapsed_s=self.session.elapsed(), status=status, message=message,
            test=dict(test.metrics) if test is not None and status != "failed" else None,
            timing={"first_step_s": self.first_step_s or 0.0,
                    "train_examples_per_s": self.examples / self.train_s if self.train_s
                    else 0.0, "total_s": self.session.elapsed()}))
        return TrainedState(config=self.configs[i], tokenizer=self.data.tokenizer,
                            label_names=tuple(self.data.label_names), dims=self.data.dims,
                            model=self.model(i), opt_state=self._stacked(i, 2),
                            total_steps=self.total_steps, history=self.histories[i],
                            step=self.step, data=self.data)


class _StopHooks(EvalHooks):
    """Evaluation inside a sweep: stops between batches, ticks the views, says what it does."""

    def __init__(self, trainer: GroupTrainer, split: str, i: int):
        self.trainer, self.split, self.i = trainer, split, i
        self.next_report = 0.0

    def call(self, step, args: tuple, shape: tuple):
        if self.trainer.control.stop_requested:
            raise Stopped
        return step(*args)

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now >= self.next_report or done == total:
            self.next_report = now + LOG_EVERY_S
            self.trainer.session.phase(
                "evaluate", f"evaluating {self.split} of configuration "
                f"{self.trainer.indices[self.i]}: batch {done:,}/{total:,}", done, total)
        self.trainer.session.tick()
