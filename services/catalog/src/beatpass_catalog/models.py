"""The catalog's tables: tracks with per-step state, collections, processed events, changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from beatpass_common.db import UTCDateTime
from beatpass_common.outbox import outbox_model


class Base(DeclarativeBase):
    pass


OutboxEvent = outbox_model(Base)


class Track(Base):
    __tablename__ = "tracks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    collection_id: Mapped[str | None] = mapped_column(String(36), index=True)
    submission: Mapped[int] = mapped_column(Integer, default=0)  # the envelope's attempt of the current submit
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)  # track.submitted seen (results may come first)
    status: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    audio: Mapped[dict | None] = mapped_column(JSON)  # the uploaded object ref
    cover: Mapped[dict | None] = mapped_column(JSON)  # uploaded ref, facts, derivative images
    facts: Mapped[dict | None] = mapped_column(JSON)
    waveform: Mapped[dict | None] = mapped_column(JSON)
    duplicate: Mapped[dict | None] = mapped_column(JSON)
    dispute: Mapped[dict | None] = mapped_column(JSON)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    replaces_track_id: Mapped[str | None] = mapped_column(String(36))
    replaced_by: Mapped[str | None] = mapped_column(String(36))  # a newer version took this track's place
    # The producer's last edit applied to meta/title (track.edited's ``edit``; 0: none): a lower
    # one arriving later is older and changes nothing.
    edit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    submitted_event: Mapped[str | None] = mapped_column(Text)  # re-driven by the reaper
    validated_event: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    steps: Mapped[list[Step]] = relationship(
        back_populates="track", cascade="all, delete-orphan", order_by="Step.position", lazy="selectin"
    )

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


class Step(Base):
    __tablename__ = "steps"
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    # pending (queued, deadline_at = queue deadline) | running (a worker sent step.started,
    # deadline_at = run deadline) | done | failed
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times its work was sent (incl. re-drives)
    error: Mapped[str | None] = mapped_column(Text)  # failed: the producer's sentence (records.failed_message)
    # failed: error | timeout | memory | worker_died | unreadable (step.failed), or the reaper's
    # timeout (running past its deadline) | not_started (queued past its deadline)
    reason: Mapped[str | None] = mapped_column(String(16), index=True)
    detail: Mapped[str | None] = mapped_column(Text)  # failed: the worker's own error, for operators only
    parked: Mapped[bool] = mapped_column(Boolean, default=False)  # its message sits in <service>.dead
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    track: Mapped[Track] = relationship(back_populates="steps")


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(200))
    cover: Mapped[dict | None] = mapped_column(JSON)
    track_ids: Mapped[list] = mapped_column(JSON, default=list)
    errors: Mapped[list] = mapped_column(JSON, default=list)  # album art problems
    status: Mapped[str] = mapped_column(String(16))
    # The last edit applied per part: {"title": n, "order": n, "cover": n} (collection.edited's
    # ``edit``; a cover's verdict carries its edit as ``attempt``). Older edits change nothing.
    edits: Mapped[dict] = mapped_column(JSON, default=dict)
    # A changed cover not in force: null, {"state": "checking"} or {"state": "rejected", "errors": [...]}
    cover_change: Mapped[dict | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedEvent(Base):
    """Ids of events already applied: a redelivered event changes nothing."""

    __tablename__ = "processed_events"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Change(Base):
    """One status change of a track or collection, for the SSE streams (ordered by seq)."""

    __tablename__ = "changes"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    subject: Mapped[str] = mapped_column(String(16))  # track | collection
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
