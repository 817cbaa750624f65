"""The trainer's speed bookkeeping and step queue, on their own (no model, no device)."""

import time

import pytest

from jaxtext.training.step_queue import IN_FLIGHT, MAX_IN_FLIGHT, StepQueue
from jaxtext.training.throughput import Throughput


def test_steps_timed_with_their_compile_leave_the_steady_rate():
    speed = Throughput(step=0, examples=0)
    speed.start_epoch()
    speed.count(64, 64, compiled=True, elapsed_s=3.0)  # the first step starts the steady count
    time.sleep(0.05)
    speed.leave_out(0.05)  # a second shape compiled for 0.05 s...
    speed.count(128, 64, compiled=True, elapsed_s=3.1)  # ...and its step is not counted
    time.sleep(0.1)
    for n in range(3, 7):
        speed.count(64 * n, 64, compiled=False, elapsed_s=3.2)
    speed.end_epoch()
    timing = speed.timing(examples=6 * 64, total_s=9.0)
    assert timing["first_step_s"] == 3.0 and timing["total_s"] == 9.0
    # 4 steady steps of 64 in ~0.1 s of counted time (the 0.05 s compile left out)
    assert 0.1 <= speed.train_s < 0.2
    assert timing["train_examples_per_s"] == pytest.approx(4 * 64 / speed.train_s)


def test_a_log_window_reports_its_rate_and_an_eta():
    speed = Throughput(step=10, examples=640)
    time.sleep(0.1)
    rate, eta = speed.close_window(step=20, examples=1280, total_steps=120)
    assert rate == pytest.approx(640 / 0.1, rel=0.3)
    assert eta == pytest.approx(100 / (10 / 0.1), rel=0.3)  # 100 steps left at ~100 steps/s
    assert (speed.window_step, speed.window_examples) == (20, 1280)


class _Loss:
    """A dispatched step's loss: ``block_until_ready`` returns when its step is done."""

    def __init__(self, seconds, waited, finished=False):
        self.seconds, self.waited, self.finished = seconds, waited, finished

    def is_ready(self):
        return self.finished

    def block_until_ready(self):
        time.sleep(self.seconds)
        self.waited.append(self)


@pytest.mark.parametrize("step_s, expected", [(0.02, 5), (0.3, 1)])
def test_the_queue_holds_about_a_tenth_of_a_second_of_steps(step_s, expected):
    queue, waited, pushed = StepQueue(), [], []
    assert queue.in_flight == IN_FLIGHT
    for _ in range(12):
        pushed.append(_Loss(step_s, waited))
        queue.push(pushed[-1])
        assert len(queue) <= queue.in_flight
    assert queue.in_flight == pytest.approx(expected, abs=1)
    assert 1 <= queue.in_flight <= MAX_IN_FLIGHT
    assert waited == pushed[:12 - len(queue)]  # the oldest steps were waited on, in order


def test_steps_found_finished_do_not_grow_the_queue():
    """After a compile the first steps are already done when waited on: they say nothing about
    how long a step takes, and must not make the queue think steps are instant."""
    queue, waited = StepQueue(), []
    for _ in range(2):  # the steps the compile ran
        queue.push(_Loss(0.0, waited, finished=True))
    for _ in range(6):  # then 0.2-s steps
        queue.push(_Loss(0.2, waited))
        assert queue.in_flight <= IN_FLIGHT
    assert queue.in_flight == 1 and queue.step_s == pytest.approx(0.2, abs=0.05)
