"""The upload service's tables: tus upload state, submissions, idempotency keys, quota ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from beatpass_common.db import UTCDateTime
from beatpass_common.outbox import outbox_model


class Base(DeclarativeBase):
    pass


OutboxEvent = outbox_model(Base)


class Upload(Base):
    """One tus upload. Everything needed to continue it lives here, so any replica can take the
    next PATCH and an upload survives a gateway restart."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)  # Upload-Metadata, decoded
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(512))
    multipart_id: Mapped[str | None] = mapped_column(String(1024))
    parts: Mapped[list] = mapped_column(JSON, default=list)  # [[number, etag], ...]
    tail_size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes parked below one part size
    tail_key: Mapped[str | None] = mapped_column(String(600))  # the object holding them
    # Part numbers are handed out here, under the lease, so a writer that lost its lease can never
    # overwrite a part that its successor recorded.
    next_part: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | complete | terminated | expired
    track_id: Mapped[str | None] = mapped_column(String(36))  # set when saved as a track's audio
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lock_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the upload is, judged once when it completed (inspection.py): {"kind", "format",
    # "facts", "problems"}; None before then (and for uploads completed before inspections existed).
    inspection: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # tus concatenation: None for a plain upload, "partial" for one part of a parallel upload
    # (never inspected, never saved), "final" for the upload assembled from partials.
    concat: Mapped[str | None] = mapped_column(String(8))
    partials: Mapped[list | None] = mapped_column(JSON(none_as_null=True))  # a final's partial ids, in order
    final_id: Mapped[str | None] = mapped_column(String(32), index=True)  # a partial's final, once joined


class Submission(Base):
    """What the gateway last submitted for a track: the base of a retry."""

    __tablename__ = "submissions"
    track_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    collection_id: Mapped[str | None] = mapped_column(String(36), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    audio_upload_id: Mapped[str] = mapped_column(String(32))
    cover_upload_id: Mapped[str] = mapped_column(String(32))
    fields: Mapped[dict] = mapped_column(JSON)
    duration_s: Mapped[float] = mapped_column(Float)
    # How many times the producer edited ``fields`` since saving (track.edited numbers them).
    edits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The track this one is a new version of (a replacement), else None.
    replaces_track_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CollectionRecord(Base):
    __tablename__ = "collections"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(200))
    cover_upload_id: Mapped[str] = mapped_column(String(32))
    track_ids: Mapped[list | None] = mapped_column(JSON)  # as saved, then as last reordered
    # The last edit number per part, {"title": n, "order": n, "cover": n} (collection.edited's)
    edits: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    producer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    route: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_flight | done
    holder: Mapped[str | None] = mapped_column(String(32))  # the request working on it (in_flight)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # renewed while it works
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class QuotaAccount(Base):
    __tablename__ = "quota_accounts"
    producer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    used_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class Reservation(Base):
    """Upload minutes held by one submission of a track, until it ends rejected or failed."""

    __tablename__ = "reservations"
    __table_args__ = (UniqueConstraint("track_id", "attempt"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    track_id: Mapped[str] = mapped_column(String(36), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    producer_id: Mapped[str] = mapped_column(String(128), index=True)
    seconds: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))  # held | released
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
