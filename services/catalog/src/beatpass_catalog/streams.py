"""Server-Sent Events of a producer's track or collection: the current state, then each change
recorded in the ``changes`` table, woken by this replica's handlers (``ChangeNotifier``) and by a
heartbeat timeout that also catches other replicas' changes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from .models import Change

Subjects = Callable[[], set[tuple[str, str]]]


class ChangeNotifier:
    """Wakes waiting SSE streams when a handler commits a change."""

    def __init__(self):
        self._cond = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, generation: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation, timeout)
            return self._generation

    @property
    def generation(self) -> int:
        return self._generation


def latest_seq(s: Session, subject_ids: list[str]) -> int:
    return s.execute(
        select(func.coalesce(func.max(Change.seq), 0)).where(Change.subject_id.in_(subject_ids))
    ).scalar_one()


def events(
    factory: sessionmaker[Session],
    notifier: ChangeNotifier,
    producer_id: str,
    subjects: Subjects,
    snapshot: Callable[[], tuple[dict, int]],
    last_seq: int | None,
    *,
    heartbeat_s: float,
    stream_max_s: float,
) -> Iterator[str]:
    """The stream's text: without ``last_seq`` the ``snapshot()`` (body, seq) first, then every
    change of ``subjects()`` (the (subject, id) pairs it carries) after that seq, a keep-alive
    comment each ``heartbeat_s`` without one, for ``stream_max_s`` (then the client reconnects
    with Last-Event-ID)."""
    seq = last_seq
    if seq is None:  # a new stream starts with the current state
        body, seq = snapshot()
        yield f"id: {seq}\nevent: status\ndata: {json.dumps(body)}\n\n"
    started = time.monotonic()
    generation = notifier.generation
    while time.monotonic() - started < stream_max_s:
        with factory() as s:
            wanted = subjects()
            changes = s.scalars(
                select(Change)
                .where(
                    Change.subject_id.in_([i for _, i in wanted]), Change.seq > seq, Change.producer_id == producer_id
                )
                .order_by(Change.seq)
            ).all()
            changes = [c for c in changes if (c.subject, c.subject_id) in wanted]
        for change in changes:
            seq = change.seq
            yield f"id: {seq}\nevent: status\ndata: {json.dumps(change.body)}\n\n"
        before = generation
        generation = notifier.wait(generation, heartbeat_s)
        if generation == before:
            yield ": keep-alive\n\n"
