"""Reading what a service published, from a queue of the platform (tests only)."""

from __future__ import annotations

import time
from collections.abc import Callable

from kombu import Connection

from ..bus import topology
from ..events import Event, parse_event


def take_events(
    bus_url: str, queue: str, wanted: Callable[[Event], bool], count: int = 1, timeout: float = 20.0
) -> list[Event]:
    """The first ``count`` events on ``queue`` that ``wanted`` accepts (all are consumed); fewer
    when the time runs out, so the caller's assertion says what was missing."""
    found: list[Event] = []
    deadline = time.monotonic() + timeout
    with Connection(bus_url) as conn:
        simple = conn.SimpleQueue(topology.consumer_queue(topology.spec(queue)))
        while len(found) < count and time.monotonic() < deadline:
            try:
                message = simple.get(timeout=0.1)
            except simple.Empty:
                continue
            message.ack()
            event = parse_event(message.body)
            if wanted(event):
                found.append(event)
    return found
