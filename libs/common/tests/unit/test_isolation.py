"""The supervised child: hard time and memory limits on work that never yields, a dead child
reported as such, the function's own exceptions unchanged, and a warm child reused."""

from __future__ import annotations

import os
import threading
import time

import pytest

from beatpass_common import faults
from beatpass_common.config import Settings
from beatpass_common.errors import MemoryLimitExceeded, Overrun, TimeLimitExceeded, WorkerDied
from beatpass_common.isolation import Runner, Terminated

SHA = "ab" * 32


def pid() -> int:
    return os.getpid()


def busy() -> None:
    while True:
        pass


def hog() -> None:
    held = []
    while True:
        held.append(bytearray(64 * 1024**2))


def die() -> None:
    os._exit(1)


def refuse(value: int) -> None:
    raise ValueError(f"bad value {value}")


def add(a: int, b: int, *, times: int = 1) -> int:
    return (a + b) * times


@pytest.fixture
def runner():
    supervised = Runner(time_limit_s=2.0, memory_limit_bytes=1024**3)
    yield supervised
    supervised.close()


def test_the_child_is_warm_and_separate(runner):
    first = runner.call(pid)
    assert first != os.getpid()
    assert runner.call(pid) == first
    assert runner.call(add, 2, 3, times=4) == 20


def test_a_busy_loop_that_never_yields_is_stopped_at_the_limit(runner):
    before = runner.call(pid)
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as caught:
        runner.call(busy, time_limit_s=1.0)
    assert 1.0 <= time.monotonic() - started < 2.0
    assert caught.value.reason == "timeout"
    after = runner.call(pid)
    assert after != before  # a fresh child


def test_an_unbounded_allocation_is_stopped_by_the_memory_limit(runner):
    with pytest.raises((MemoryLimitExceeded, WorkerDied)) as caught:
        runner.call(hog, time_limit_s=60)
    # RLIMIT_AS refuses the allocation (MemoryError in the child) long before the kernel's OOM killer acts.
    assert caught.value.reason == "memory"
    assert runner.call(add, 1, 1) == 2


def test_a_child_that_dies_is_reported(runner):
    with pytest.raises(WorkerDied) as caught:
        runner.call(die)
    # pebble names the exit code, or (when the pool notices first, as under load) the broken pool
    assert caught.value.reason == "worker_died"
    assert "exit code 1" in str(caught.value) or "broke" in str(caught.value)
    assert runner.call(add, 1, 2) == 3


def test_the_functions_own_exception_propagates_unchanged(runner):
    with pytest.raises(ValueError, match="bad value 7"):
        runner.call(refuse, 7)
    assert runner.call(add, 2, 2) == 4


def test_terminate_from_another_thread_stops_a_running_call(runner):
    runner.call(pid)  # the child is up
    killer = threading.Timer(0.5, runner.terminate)
    killer.start()
    started = time.monotonic()
    with pytest.raises(Terminated) as caught:
        runner.call(busy, time_limit_s=30)
    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value, WorkerDied)
    assert runner.call(add, 3, 3) == 6


def test_in_process_mode_has_no_child():
    inline = Runner(isolated=False, time_limit_s=0.001)
    assert inline.call(pid) == os.getpid()
    with pytest.raises(ValueError):
        inline.call(refuse, 1)


def test_a_fault_fires_only_for_its_point_and_audio(runner):
    settings = Settings(test_fault=f"waveform.peaks:hang:{SHA}")
    faults.inject(settings, "waveform.peaks", "cd" * 32)  # another file
    faults.inject(settings, "fingerprint.print", SHA)  # another point
    faults.inject(Settings(), "waveform.peaks", SHA)  # no fault configured
    with pytest.raises(TimeLimitExceeded):
        runner.call(faults.inject, settings, "waveform.peaks", SHA, time_limit_s=1.0)
    with pytest.raises(Overrun) as caught:
        runner.call(
            faults.inject, Settings(test_fault=f"waveform.peaks:alloc:{SHA}"), "waveform.peaks", SHA, time_limit_s=60
        )
    assert caught.value.reason == "memory"


def test_a_misspelt_fault_is_refused():
    with pytest.raises(ValueError, match="point is one of"):
        faults.inject(Settings(test_fault=f"waveform.peak:hang:{SHA}"), "waveform.peaks", SHA)


ORPHAN = """
import sys, time
from beatpass_common.isolation import Runner
from tests_isolation_helpers import child_pid, busy
runner = Runner(time_limit_s=600)
print(runner.call(child_pid), flush=True)
runner.call(busy)
"""


def test_a_worker_that_is_killed_takes_its_child_with_it(tmp_path):
    """SIGKILL the worker while its child busy-loops: the kernel kills the child too (no orphan)."""
    import signal
    import subprocess
    import sys

    (tmp_path / "tests_isolation_helpers.py").write_text(
        "import os\n\ndef child_pid():\n    return os.getpid()\n\n\ndef busy():\n    while True:\n        pass\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        child = int(worker.stdout.readline())
        time.sleep(0.5)  # the child is in the busy loop now
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its worker"
    finally:
        worker.kill()


def _alive(pid_: int) -> bool:
    try:
        with open(f"/proc/{pid_}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


FLAKY = """
import os
marker = os.environ["BEATPASS_TEST_FLAKY_MARKER"]
if os.path.exists(marker):
    os.remove(marker)
    os._exit(3)  # the child dies while starting: pebble gives up on the pool
"""


def test_a_broken_pool_is_replaced_by_the_next_call(tmp_path, monkeypatch):
    """Seen by a stranger: after the pool broke ("All workers expired"), every later call failed
    with "Unexpected error within the Pool" for good. Now the call fails as WorkerDied and the next
    one gets a new pool."""
    import sys

    (tmp_path / "flaky_start.py").write_text(FLAKY)
    marker = tmp_path / "die-once"
    marker.write_text("")
    monkeypatch.setenv("BEATPASS_TEST_FLAKY_MARKER", str(marker))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert str(tmp_path) in sys.path
    flaky = Runner(time_limit_s=30, preload=("flaky_start",))
    try:
        with pytest.raises(WorkerDied):
            flaky.call(pid)
        assert flaky.call(pid) != os.getpid()  # a new pool, a working child
    finally:
        flaky.close()
