"""Background loops: one piece of work repeated on an interval until the process stops.

The outbox relay, the catalog's reaper and the gateway's housekeeping all run this way. A pass
that raises is logged and the loop carries on (a database or broker hiccup must not end it);
``stop()`` ends the loop within one wait and joins its thread for a bounded time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

JOIN_S = 10.0  # the longest stop() waits for a pass in hand to finish


def every(
    interval_s: float,
    work: Callable[[], object],
    stop: threading.Event,
    *,
    name: str,
    wake: threading.Event | None = None,
    first: bool = False,
    error_wait_s: float = 0.0,
) -> None:
    """Call ``work()`` every ``interval_s`` seconds until ``stop`` is set.

    ``first``: run a pass at once instead of waiting one interval first. ``wake``: an event that
    starts the next pass early (cleared when the pass starts). ``error_wait_s``: an extra pause
    after a pass that raised, so a dead dependency is not hammered. ``name`` is the log's label.
    """
    if not first and _wait(interval_s, stop, wake):
        return
    while not stop.is_set():
        try:
            work()
        except Exception:  # a failed pass is logged; the next one tries again
            log.exception("%s pass failed", name)
            if error_wait_s and stop.wait(error_wait_s):
                return
        if _wait(interval_s, stop, wake):
            return


def _wait(interval_s: float, stop: threading.Event, wake: threading.Event | None) -> bool:
    """Wait out one interval (or until woken); True when the loop should end."""
    if wake is None:
        return stop.wait(interval_s)
    wake.wait(interval_s)
    wake.clear()
    return stop.is_set()


class Periodic:
    """``every(...)`` on a daemon thread of its own: a ``runner.Loop`` a Runtime starts and stops.

    ``wake()`` starts the next pass without waiting for the interval.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[], object],
        interval_s: float,
        *,
        first: bool = False,
        error_wait_s: float = 0.0,
    ):
        self.name, self.work, self.interval_s = name, work, interval_s
        self.first, self.error_wait_s = first, error_wait_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        every(
            self.interval_s,
            self.work,
            self._stop,
            name=self.name,
            wake=self._wake,
            first=self.first,
            error_wait_s=self.error_wait_s,
        )

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(JOIN_S)
