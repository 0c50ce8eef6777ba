"""The shared track vocabulary and document, and the UTC timestamp column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Integer, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from beatpass_common.db import UTCDateTime
from beatpass_common.tracks import STATUSES, STEPS, UNSETTLED, TrackView


def test_the_vocabulary():
    assert STATUSES == ("processing", "ready", "rejected", "failed", "in_review", "replaced")
    assert STEPS == ("validation", "waveform", "fingerprint")
    assert set(UNSETTLED) < set(STATUSES)


def test_a_new_track_document_is_processing_with_every_step_pending_and_iso_timestamps():
    t = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    doc = TrackView(id="t1", status="processing", created_at=t, updated_at=t).document()
    assert doc["steps"] == {
        name: {
            "state": "pending",
            "attempts": 0,
            "error": None,
            "reason": None,
            "started_at": None,
            "finished_at": None,
            "deadline_at": None,
        }
        for name in STEPS
    }
    assert doc["created_at"] == "2024-05-01T12:30:00+00:00" == t.isoformat()
    assert (doc["edit"], doc["version"], doc["cover"], doc["errors"]) == (0, 0, {}, [])


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


def test_utc_datetime_gives_back_aware_utc_on_sqlite():
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    plus_two = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    with Session(engine) as s:
        s.add(_Row(id=1, at=plus_two))
        s.commit()
        s.expunge_all()
        got = s.scalar(select(_Row.at))
        assert got == plus_two and got.tzinfo == UTC and got.hour == 12
        # a comparison binds through the same type: an aware bound matches the stored UTC text
        assert s.scalar(select(_Row.id).where(_Row.at < datetime(2024, 5, 1, 12, 1, tzinfo=UTC))) == 1
