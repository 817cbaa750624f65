"""The training loop: Config -> data -> model -> jitted steps -> events -> Run.

The loop dispatches steps without waiting for the device; metric sums are fetched every
``log_every`` steps. Ctrl-C / the kernel's interrupt / a callback's stop request all end
training at the next step boundary, and the run keeps the weights of the last finished
step. A step whose gradients are not finite is skipped (the weights stay the last good
ones) and training stops with a ``TrainingError`` that carries the run.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxtext import events as ev
from jaxtext.callbacks import Callback, History, TrainingControl
from jaxtext.config import Config, describe_data
from jaxtext.errors import ConfigError, TrainingError
from jaxtext.registry import callbacks as callback_registry
from jaxtext.registry import models
from jaxtext.training import compile_cache
from jaxtext.training.evaluate import evaluate_split
from jaxtext.training.optim import OptimizerSpec, learning_rate_schedule, make_optimizer
from jaxtext.training.prepare import PreparedData, prepare_data
from jaxtext.training.sharding import DataParallel
from jaxtext.training.steps import split_model, train_step_fn, zero_sums


def as_config(config: Config | dict | None, keys: dict[str, Any]) -> Config:
    if isinstance(config, Config):
        return config.replace(**keys) if keys else config
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config must be a dict or jaxtext.Config, not {type(config).__name__}")
    return Config.from_dict({**(config or {}), **keys})


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel; checked without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def resolve_callbacks(callbacks: Any) -> list:
    """'auto' -> dashboard in a kernel, terminal progress elsewhere; names via the registry."""
    if callbacks == "auto":
        callbacks = ["dashboard"] if in_notebook_kernel() and "dashboard" in callback_registry \
            else ["progress"]
    if callbacks is None:
        callbacks = []
    if isinstance(callbacks, (str, Callback)) or callable(callbacks):
        callbacks = [callbacks]
    resolved = []
    for cb in callbacks:
        if isinstance(cb, str):
            cb = callback_registry.get(cb)()
        elif isinstance(cb, type):
            cb = cb()
        resolved.append(cb)
    return resolved


def build_model(config: Config, dims) -> nnx.Module:
    model_cls = models.get(config.model)
    rngs = nnx.Rngs(params=config.seed, dropout=config.seed + 1)
    return model_cls(config.model_args, dims, rngs=rngs)


def count_params(params) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))


def train(config: Config | dict | None = None, *, callbacks: Any = "auto", **keys):
    """Train a model and return the finished ``Run`` (keys as in the config / cell body)."""
    compile_cache.enable()
    cfg = as_config(config, keys)
    views = resolve_callbacks(callbacks)
    prepared = prepare_data(cfg)
    return Trainer(cfg, prepared, views).fit()


@contextlib.contextmanager
def stop_on_sigint(control: TrainingControl):
    """Turn the first Ctrl-C / kernel interrupt into a stop request at the next step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if control.stop_requested:  # a second Ctrl-C: the user really wants out
            raise KeyboardInterrupt
        control.request_stop("interrupted")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    def __init__(self, config: Config, prepared: PreparedData, callbacks: list):
        self.config = config
        self.data = prepared
        self.history = History()
        self.callbacks = [self.history, *callbacks]
        self.control = TrainingControl()
        for cb in self.callbacks:
            with contextlib.suppress(AttributeError):
                cb.control = self.control
        self.dp = DataParallel()

    def emit(self, event) -> None:
        for cb in self.callbacks:
            cb(event)

    def fit(self):
        from jaxtext.run import Run

        cfg, data, dp = self.config, self.data, self.dp
        start = time.perf_counter()
        model = build_model(cfg, data.dims)
        parts = split_model(model)
        steps_per_epoch = len(data.batches("train", epoch=0, shuffle=True,
                                           pad_to_multiple=dp.num_devices))
        total_steps = steps_per_epoch * cfg.epochs
        spec = OptimizerSpec.from_config(cfg, total_steps)
        tx = make_optimizer(spec)
        lr_at = learning_rate_schedule(spec)
        params = dp.replicate(parts.params)
        rest = dp.replicate(parts.rest)
        opt_state = dp.replicate(tx.init(params))
        train_step = train_step_fn(parts, tx, cfg.task, spec)

        run = Run(config=cfg, tokenizer=data.tokenizer, label_names=data.label_names,
                  dims=data.dims, parts=parts._replace(params=params, rest=rest),
                  opt_state=opt_state, history=self.history, prepared=data)
        name = cfg.name or f"{cfg.model}-{describe_data(cfg.data).split(':')[-1]}"
        run.name = name
        self.emit(ev.TrainBegin(
            run_name=name, task=cfg.task, model=cfg.model, data=describe_data(cfg.data),
            config={k: v for k, v in cfg.to_dict().items()}, num_params=count_params(params),
            devices=dp.describe(), dataset_sizes={s: data.size(s) for s in
                                                  ("train", "validation", "test")},
            label_names=data.label_names, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
            total_steps=total_steps, batch_size=cfg.batch_size))

        step, epoch, status, message = 0, 0, "completed", ""
        sums = dp.replicate(zero_sums())
        examples = 0
        timing = {"first_step_s": None, "train_s": 0.0}
        best_value, best_state, bad_epochs = None, None, 0
        monitor = cfg.monitor_metric
        higher_is_better = monitor in ("accuracy", "macro_f1")
        last_log = {"time": time.perf_counter(), "examples": 0, "step": 0}

        def log(epoch: int) -> None:
            nonlocal sums
            if step == last_log["step"]:
                return
            fetched = jax.device_get(sums)
            notfinite = int(jax.device_get(opt_state.total_notfinite))
            sums = dp.replicate(zero_sums())
            now = time.perf_counter()
            count = max(float(fetched["count"]), 1.0)
            loss = float(fetched["loss"]) / count
            if notfinite or not math.isfinite(loss):
                raise _Diverged(step)
            dt = max(now - last_log["time"], 1e-9)
            rate = (examples - last_log["examples"]) / dt
            steps_per_s = (step - last_log["step"]) / dt
            last_log.update(time=now, examples=examples, step=step)
            self.emit(ev.StepLog(
                step=step, epoch=epoch, total_steps=total_steps, examples_seen=examples,
                examples_per_s=rate, elapsed_s=now - start,
                eta_s=(total_steps - step) / max(steps_per_s, 1e-9),
                lr=float(lr_at(step)), loss=loss,
                accuracy=float(fetched["correct"]) / count if cfg.task == "classify" else None))

        try:
            with stop_on_sigint(self.control):
                for epoch in range(1, cfg.epochs + 1):
                    batches = data.batches("train", epoch=epoch - 1, shuffle=True,
                                           pad_to_multiple=dp.num_devices)
                    epoch_clock = time.perf_counter()
                    for batch in batches:
                        if self.control.stop_requested:
                            break
                        params, rest, opt_state, sums = train_step(
                            params, rest, opt_state, sums, dp.shard_batch(batch))
                        step += 1
                        examples += int(batch.weights.sum()) if cfg.task == "classify" \
                            else int(batch.weights.shape[0])
                        if timing["first_step_s"] is None:
                            jax.block_until_ready(params)
                            timing["first_step_s"] = time.perf_counter() - start
                            last_log.update(time=time.perf_counter(), examples=examples, step=step)
                            epoch_clock = time.perf_counter()
                            timing["steady_examples_start"] = examples
                        for cb in self.callbacks:
                            cb.on_step(step)
                        if step % cfg.log_every == 0:
                            log(epoch)
                    log(epoch)
                    jax.block_until_ready(params)
                    timing["train_s"] += time.perf_counter() - epoch_clock
                    run._set_state(params, rest, opt_state)
                    if self.control.stop_requested:
                        status, message = "interrupted", self.control.reason
                        self.emit(ev.Interrupt(step=step, epoch=epoch, reason=message))
                        break
                    result = evaluate_split(run, "validation", epoch=epoch, step=step)
                    self.emit(result)
                    value = result.metrics[monitor]
                    improved = best_value is None or (
                        value > best_value if higher_is_better else value < best_value)
                    if improved:
                        best_value, bad_epochs = value, 0
                        if cfg.early_stopping:
                            best_state = jax.tree.map(jnp.copy, (params, rest))
                    else:
                        bad_epochs += 1
                    self.emit(ev.EpochEnd(epoch=epoch, step=step,
                                          elapsed_s=time.perf_counter() - start,
                                          train=self._last_train_metrics(),
                                          validation=dict(result.metrics), is_best=improved))
                    if cfg.task == "lm":
                        self._emit_samples(run, epoch, step)
                    if cfg.early_stopping and bad_epochs >= cfg.early_stopping:
                        status = "early_stopped"
                        message = (f"no {monitor} improvement for {bad_epochs} epochs; "
                                   f"restored the best weights ({monitor} {best_value:.4f})")
                        break
        except _Diverged as err:
            run._set_state(params, rest, opt_state)
            run.status = "failed"
            msg = (f"training diverged at step {err.step}: the loss became NaN/inf. The run keeps "
                   f"the last good weights; try a lower lr (now {cfg.lr:g}) or grad_clip")
            self.emit(ev.TrainEnd(step=step, elapsed_s=time.perf_counter() - start,
                                  status="failed", message=msg, test=None))
            run.timing = self._timing(timing, start, examples)
            run.steps = step
            raise TrainingError(msg, run=run) from None
        except BaseException:
            self.emit(ev.TrainEnd(step=step, elapsed_s=time.perf_counter() - start,
                                  status="failed", message="error during training", test=None))
            raise

        if best_state is not None:
            run._set_state(*best_state, opt_state)
        run.status = status
        test = None
        if status != "interrupted":
            result = evaluate_split(run, "test", epoch=epoch, step=step)
            run.test_report = result
            test = dict(result.metrics)
            self.emit(result)
        elif not message:
            message = "interrupted"
        run.timing = self._timing(timing, start, examples)
        run.steps = step
        self.emit(ev.TrainEnd(step=step, elapsed_s=time.perf_counter() - start, status=status,
                              message=message if status != "completed" else "", test=test))
        return run

    def _timing(self, timing: dict, start: float, examples: int) -> dict:
        steady = examples - timing.get("steady_examples_start", 0)
        return {"first_step_s": timing["first_step_s"] or 0.0,
                "train_examples_per_s": steady / timing["train_s"] if timing["train_s"] else 0.0,
                "total_s": time.perf_counter() - start}

    def _last_train_metrics(self) -> dict:
        for row in reversed(self.history.rows):
            if row["kind"] == "train":
                out = {"loss": row["loss"]}
                if row.get("accuracy") is not None:
                    out["accuracy"] = row["accuracy"]
                return out
        return {}

    def _emit_samples(self, run, epoch: int, step: int) -> None:
        from jaxtext.generate import epoch_samples

        event = epoch_samples(run, epoch=epoch, step=step)
        if event is not None:
            self.emit(event)


class _Diverged(Exception):
    def __init__(self, step: int):
        self.step = step
