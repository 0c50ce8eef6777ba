"""Short leases on database rows, renewed while their holder works.

A row that a request works on (an Idempotency-Key in flight, a tus upload being written) carries a
holder id and ``lease_until``. A heartbeat thread pushes ``lease_until`` forward every third of
``lease_s`` while the request runs, so a holder that is killed lets go within ``lease_s`` and one
that lives keeps the row however long it takes. Writes made under a lease name the holder
(fencing): a holder that lost its lease cannot commit over its successor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def renew_every_s(lease_s: float) -> float:
    return lease_s / 3


def poll_every_s(lease_s: float) -> float:
    return max(0.05, lease_s / 10)


class Heartbeat:
    """Calls ``renew() -> bool`` every third of ``lease_s`` on a daemon thread until the ``with``
    block ends. ``renew`` returning False means another holder took over: renewing stops and
    ``lost`` is set (the holder's fenced writes fail by themselves). A renewal that raises
    (database hiccup) is tried again at the next beat."""

    def __init__(self, renew: Callable[[], bool], lease_s: float, name: str):
        self._renew, self._every_s = renew, renew_every_s(lease_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.lost = False

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                if not self._renew():
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - the lease outlasts one missed beat
                log.warning("lease renewal failed; trying again in %.1f s", self._every_s, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self._every_s)  # a renewal in progress ends with its transaction


def wait_for(attempt: Callable[[], T | None], lease_s: float) -> T | None:
    """Call ``attempt`` until it returns something, for as long as a dead holder's lease can
    last (``lease_s`` and one poll); None when the holder kept renewing all along (it is alive)."""
    poll_s = poll_every_s(lease_s)
    deadline = time.monotonic() + lease_s + poll_s
    while (result := attempt()) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(poll_s, left))
    return result
