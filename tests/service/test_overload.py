"""PipelineQueue: turns in arrival order, and refusal past the expected-wait budget."""

from __future__ import annotations

import threading
import time

import pytest

from ecorec.service.overload import SMOOTHING, PipelineQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wait_until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_turns_are_taken_one_at_a_time_in_arrival_order() -> None:
    queue = PipelineQueue(budget_ms=0)  # no bound: everyone waits
    order: list[int] = []
    running = threading.Semaphore(0)

    def request(k: int) -> None:
        with queue.turn() as full:
            assert full
            order.append(k)
            running.release()

    with queue.turn():  # the first call holds the pipeline while the others arrive
        threads = []
        for k in range(6):
            thread = threading.Thread(target=request, args=(k,))
            thread.start()
            threads.append(thread)
            wait_until(lambda k=k: queue.queued == k + 2)  # k waits behind the holder
        assert order == []
    for thread in threads:
        thread.join(5)
    assert order == list(range(6))  # a plain Lock gives no such order
    assert queue.queued == 0


def test_the_call_duration_is_a_running_mean_of_measured_turns() -> None:
    clock = FakeClock()
    queue = PipelineQueue(budget_ms=100, clock=clock)
    assert queue.expected_wait_ms() == 0.0
    with queue.turn() as full:  # the first call: 40 ms, taken as it is
        assert full
        assert queue.queued == 1
        clock.now += 0.040
    assert queue.call_ms == pytest.approx(40.0)
    with queue.turn() as full:  # an empty queue admits whatever the mean
        assert full
        assert queue.expected_wait_ms() == pytest.approx(40.0)  # the running call
        clock.now += 0.140
    assert queue.call_ms == pytest.approx(40.0 + SMOOTHING * 100.0)


def test_refusal_in_a_busy_queue_and_release_after_an_error() -> None:
    queue = PipelineQueue(budget_ms=100)
    queue.call_ms = 40.0  # as if measured
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with queue.turn():
            entered.set()
            release.wait(5)

    holders = [threading.Thread(target=hold) for _ in range(3)]
    holders[0].start()
    entered.wait(5)
    for thread in holders[1:]:
        thread.start()
    wait_until(lambda: queue.queued == 3)
    assert queue.expected_wait_ms() == pytest.approx(120.0)
    with queue.turn() as full:  # 3 x 40 ms ahead > 100 ms: the light slate, at once
        assert not full
    assert queue.queued == 3
    release.set()
    for thread in holders:
        thread.join(5)
    assert queue.queued == 0
    with pytest.raises(RuntimeError), queue.turn() as full:
        assert full
        raise RuntimeError("a failing pipeline call still ends its turn")
    assert queue.queued == 0
    with queue.turn() as full:
        assert full


def test_budget_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="overload budget"):
        PipelineQueue(budget_ms=-1)
