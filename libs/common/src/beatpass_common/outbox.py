"""Transactional outbox: events are stored with the state change that causes them and published
after commit by a relay, so a crash can delay an event but never lose it or emit one for a change
that was rolled back. Delivery stays at least once; consumers drop repeats by event id.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import Gauge
from sqlalchemy import Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .db import UTCDateTime
from .events import Event, parse_event
from .periodic import Periodic

log = logging.getLogger(__name__)

# The relay's backlog, per service (the model's package): every replica reads the same table, so
# dashboards and alerts take the max over replicas, never the sum.
PENDING = Gauge(
    "beatpass_outbox_pending_events", "Events stored but not yet published", ["service"], multiprocess_mode="max"
)
OLDEST = Gauge(
    "beatpass_outbox_oldest_pending_seconds",
    "Age of the oldest unpublished event, 0 when none",
    ["service"],
    multiprocess_mode="max",
)
MEASURE_EVERY_S = 5.0


def outbox_model(base) -> type:
    """The outbox table on a service's own declarative base."""

    class OutboxEvent(base):
        __tablename__ = "outbox"
        seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
        event_id: Mapped[str] = mapped_column(String(36), index=True)  # a re-drive re-sends an id
        type: Mapped[str] = mapped_column(String(64))
        body: Mapped[str] = mapped_column(Text)
        created_at: Mapped[datetime] = mapped_column(UTCDateTime)
        published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    return OutboxEvent


class Outbox:
    def __init__(self, model, factory: sessionmaker[Session], publish, poll_s: float = 0.5):
        self.model: type[Any] = model  # a class from outbox_model: seq, event_id, type, body, created_at, published_at
        self.factory = factory
        self._publish = publish
        self.poll_s = poll_s
        # A failed pass (broker or database down) keeps the rows and waits a second more.
        self._loop = Periodic("outbox-relay", self.relay_pass, poll_s, first=True, error_wait_s=1.0)
        # the service whose declarative base the table is on (beatpass_catalog.models -> catalog)
        self.service = model.__bases__[0].__module__.split(".")[0].removeprefix("beatpass_")
        self._measured = 0.0

    def add(self, session: Session, event: Event) -> None:
        """Stage ``event`` in the caller's transaction."""
        session.add(
            self.model(
                event_id=event.id,
                type=event.type,
                body=event.model_dump_json(),
                created_at=datetime.now(UTC),
                published_at=None,
            )
        )

    def notify(self) -> None:
        """Call after commit to publish without waiting for the next poll."""
        self._loop.wake()

    def relay_once(self, limit: int = 100) -> int:
        """Publish pending events in order; returns how many were published."""
        sent = 0
        with self.factory() as session, session.begin():
            query = select(self.model).where(self.model.published_at.is_(None)).order_by(self.model.seq).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)  # replicas share the work
            row: Any  # an OutboxEvent
            for row in session.scalars(query):
                self._publish(parse_event(row.body))
                row.published_at = datetime.now(UTC)
                sent += 1
        return sent

    def measure(self) -> tuple[int, float]:
        """(pending events, age in seconds of the oldest one or 0), also set on the gauges."""
        with self.factory() as session:
            query = select(func.count(), func.min(self.model.created_at)).where(self.model.published_at.is_(None))
            count, oldest = cast(tuple[int, datetime | None], session.execute(query).one())
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        PENDING.labels(self.service).set(count)
        OLDEST.labels(self.service).set(max(age, 0.0))
        return count, age

    def relay_pass(self) -> None:
        """Publish everything pending, then measure the backlog when that is due (also after a
        failed relay: a broker outage is when the backlog gauges matter)."""
        try:
            while self.relay_once():
                pass
        finally:
            if time.monotonic() - self._measured >= MEASURE_EVERY_S:
                self._measured = time.monotonic()
                try:
                    self.measure()
                except Exception:  # noqa: BLE001 - the database is down: the gauges keep their last value
                    log.warning("could not measure the outbox backlog", exc_info=True)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
