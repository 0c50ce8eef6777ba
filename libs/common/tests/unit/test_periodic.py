"""The background-loop helper: passes on the interval, early on wake, on after a failure, ends on stop."""

from __future__ import annotations

import threading
import time

from beatpass_common.periodic import Periodic, every


def test_a_failing_pass_is_logged_and_the_loop_goes_on_until_stopped(caplog):
    calls: list[float] = []
    stop = threading.Event()

    def work():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) == 3:
            stop.set()

    started = time.monotonic()
    every(0.01, work, stop, name="test-loop", first=True)
    assert len(calls) == 3 and calls[0] - started < 0.01  # first: no wait before the first pass
    assert "test-loop pass failed" in caplog.text and "database away" in caplog.text


def test_without_first_the_loop_waits_one_interval_and_a_set_stop_ends_it_at_once():
    stop = threading.Event()
    stop.set()
    calls: list[int] = []
    every(5.0, lambda: calls.append(1), stop, name="never")
    assert calls == []


def test_wake_starts_the_next_pass_early_and_stop_joins_the_thread():
    passes = threading.Semaphore(0)
    loop = Periodic("woken", passes.release, interval_s=60.0, first=True)
    loop.start()
    assert passes.acquire(timeout=2)  # the first pass, at once
    loop.wake()
    assert passes.acquire(timeout=2)  # long before the 60 s interval
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 2 and not loop._thread.is_alive()


def test_error_wait_pauses_after_a_failure_only():
    stop = threading.Event()
    calls: list[float] = []

    def work():
        calls.append(time.monotonic())
        if len(calls) == 2:
            stop.set()
        raise RuntimeError("broker away")

    every(0.0, work, stop, name="backoff", first=True, error_wait_s=0.2)
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.2
