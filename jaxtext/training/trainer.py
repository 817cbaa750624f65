"""The training loop: prepared data + config -> jitted steps -> events -> ``TrainedState``.

The loop dispatches steps without waiting for the device; metric sums are fetched every
``log_every`` steps. Ctrl-C / the kernel's interrupt / a callback's stop request all end
training at the next step boundary, and the state keeps the weights of the last finished
step. A step whose gradients are not finite is skipped (the weights stay the last good
ones) and training ends with status "failed". The loop never builds a ``Run``: it returns
the trained state, and ``jaxtext.train`` makes the run from it.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time

import jax
import jax.numpy as jnp

from jaxtext import events as ev
from jaxtext.callbacks import Callback, TrainingControl
from jaxtext.config import Config, describe_data
from jaxtext.data.prepare import PreparedData
from jaxtext.generate import epoch_samples
from jaxtext.history import History
from jaxtext.training.evaluate import evaluate_split
from jaxtext.training.optim import OptimizerSpec, learning_rate_schedule, make_optimizer
from jaxtext.training.sharding import DataParallel
from jaxtext.training.state import ModelState, TrainedState, init_model_state
from jaxtext.training.steps import train_step_fn, zero_sums


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
    """One training session; ``fit()`` once. ``callbacks`` are called with every event."""

    def __init__(self, config: Config, prepared: PreparedData, callbacks: list):
        self.config = config
        self.data = prepared
        self.history = History()
        self.callbacks = [self.history, *callbacks]
        self.control = TrainingControl()
        for cb in self.callbacks:  # a plain function has no control to set, and needs none
            with contextlib.suppress(AttributeError, TypeError):
                cb.control = self.control
        self.step_hooks = [cb.on_step for cb in self.callbacks  # skip the base class's no-op
                           if callable(getattr(cb, "on_step", None))
                           and getattr(type(cb), "on_step", None) is not Callback.on_step]
        self.dp = DataParallel()

    def emit(self, event) -> None:
        for cb in self.callbacks:
            cb(event)

    def fit(self) -> TrainedState:
        cfg, data, dp = self.config, self.data, self.dp
        start = time.perf_counter()
        initial = init_model_state(cfg, data.dims)
        steps_per_epoch = len(data.batches("train", epoch=0, shuffle=True,
                                           pad_to_multiple=dp.num_devices))
        total_steps = steps_per_epoch * cfg.epochs
        spec = OptimizerSpec.from_config(cfg, total_steps)
        tx = make_optimizer(spec)
        lr_at = learning_rate_schedule(spec)
        params = dp.replicate(initial.params)
        rest = dp.replicate(initial.rest)
        opt_state = dp.replicate(tx.init(params))
        train_step = train_step_fn(initial, tx, cfg.task, spec)

        def model_now() -> ModelState:
            return initial._replace(params=params, rest=rest)

        name = cfg.name or f"{cfg.model}-{describe_data(cfg.data).split(':')[-1]}"
        self.emit(ev.TrainBegin(
            run_name=name, task=cfg.task, model=cfg.model, data=describe_data(cfg.data),
            config=cfg.to_dict(), num_params=initial.num_params, devices=dp.describe(),
            dataset_sizes={s: data.size(s) for s in ("train", "validation", "test")},
            label_names=data.label_names, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
            total_steps=total_steps, batch_size=cfg.batch_size))

        step, epoch, status, message = 0, 0, "completed", ""
        sums = dp.replicate(zero_sums())
        examples = 0
        timing = {"first_step_s": None, "train_s": 0.0, "steady_examples_start": 0}
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

        def finish(status: str, message: str, test=None) -> TrainedState:
            self.emit(ev.TrainEnd(step=step, elapsed_s=time.perf_counter() - start,
                                  status=status, message=message, test=test,
                                  timing=_timing(timing, start, examples)))
            return TrainedState(config=cfg, tokenizer=data.tokenizer,
                                label_names=tuple(data.label_names), dims=data.dims,
                                model=model_now(), opt_state=opt_state,
                                total_steps=spec.total_steps, history=self.history, data=data)

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
                        for hook in self.step_hooks:
                            hook(step)
                        if step % cfg.log_every == 0:
                            log(epoch)
                    log(epoch)
                    jax.block_until_ready(params)
                    timing["train_s"] += time.perf_counter() - epoch_clock
                    if self.control.stop_requested:
                        status, message = "interrupted", self.control.reason or "interrupted"
                        self.emit(ev.Interrupt(step=step, epoch=epoch, reason=message))
                        break
                    result = evaluate_split(model_now(), data, "validation", dp=dp,
                                            epoch=epoch, step=step)
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
                                          train=self.history.last_train_metrics(),
                                          validation=dict(result.metrics), is_best=improved))
                    if cfg.task == "lm":
                        samples = epoch_samples(model_now(), data.tokenizer, cfg,
                                                max_len=data.dims.max_len, epoch=epoch,
                                                step=step)
                        if samples is not None:
                            self.emit(samples)
                    if cfg.early_stopping and bad_epochs >= cfg.early_stopping:
                        status = "early_stopped"
                        message = (f"no {monitor} improvement for {bad_epochs} epochs; "
                                   f"restored the best weights ({monitor} {best_value:.4f})")
                        break
        except _Diverged as err:
            return finish("failed", f"training diverged at step {err.step}: the loss became "
                          f"NaN/inf. The run keeps the last good weights; try a lower lr "
                          f"(now {cfg.lr:g}) or grad_clip")
        except BaseException:
            self.emit(ev.TrainEnd(step=step, elapsed_s=time.perf_counter() - start,
                                  status="failed", message="error during training", test=None))
            raise

        if best_state is not None:
            params, rest = best_state
        if status == "interrupted":
            return finish(status, message)
        result = evaluate_split(model_now(), data, "test", dp=dp, epoch=epoch, step=step)
        self.emit(result)
        return finish(status, message if status != "completed" else "", dict(result.metrics))


def _timing(timing: dict, start: float, examples: int) -> dict[str, float]:
    steady = examples - timing["steady_examples_start"]
    return {"first_step_s": timing["first_step_s"] or 0.0,
            "train_examples_per_s": steady / timing["train_s"] if timing["train_s"] else 0.0,
            "total_s": time.perf_counter() - start}


class _Diverged(Exception):
    def __init__(self, step: int):
        self.step = step
