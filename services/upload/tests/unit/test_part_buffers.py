"""The process's shared part buffers: bounded, reused, waited for."""

from __future__ import annotations

import threading
import time

from beatpass_upload.part_buffers import PartBuffers


def test_at_most_count_buffers_exist_and_they_are_reused():
    pool = PartBuffers(2)
    a, b = pool.take(10, 0), pool.try_take(10)
    assert len(a) == len(b) == 10 and a is not b
    assert pool.try_take(10) is None and pool.take(10, 0.05) is None
    pool.give(a)
    assert pool.try_take(10) is a


def test_a_waiting_take_gets_the_buffer_given_back():
    pool = PartBuffers(1)
    held = pool.take(4, 0)
    threading.Timer(0.1, pool.give, [held]).start()
    started = time.monotonic()
    assert pool.take(4, 5) is held
    assert time.monotonic() - started < 4


def test_a_buffer_of_another_size_is_made_anew_within_the_bound():
    pool = PartBuffers(1)
    pool.give(pool.take(4, 0))
    fresh = pool.take(8, 0)
    assert len(fresh) == 8 and pool.try_take(8) is None
