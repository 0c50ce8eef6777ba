"""The runtime hands SIGTERM's grace period and its interrupts to the bus."""

from __future__ import annotations

from beatpass_common.config import Settings
from beatpass_common.runner import Runtime


class RecordingBus:
    def __init__(self):
        self.stopped_with = None

    def stop(self, grace_s, on_overdue=None):
        self.stopped_with = (grace_s, on_overdue)
        on_overdue()  # as the bus does when the grace period runs out


def test_stop_drains_for_the_grace_period_then_interrupts_supervised_work():
    interrupted, closed = [], []
    bus = RecordingBus()
    runtime = Runtime(
        "validation",
        Settings(shutdown_grace_s=7.0, handler_time_limit_s=300.0),
        bus=bus,
        interrupts=[lambda: interrupted.append(1)],
        on_stop=[lambda: closed.append(1)],
    )
    runtime.stop()
    assert bus.stopped_with[0] == 7.0
    assert interrupted == [1] and closed == [1]
