"""The fingerprint service's tables: one fingerprint per track, the inverted index (packed posting
lists), the shift-robust print and its index, removals, the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from beatpass_common.outbox import outbox_model


class Base(DeclarativeBase):
    pass


OutboxEvent = outbox_model(Base)


class TrackPrint(Base):
    __tablename__ = "fingerprints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # small key for index rows
    track_id: Mapped[str] = mapped_column(String(36), unique=True)
    producer_id: Mapped[str] = mapped_column(String(128))
    submission: Mapped[int] = mapped_column(Integer)  # the envelope's attempt: a later one supersedes
    source: Mapped[str] = mapped_column(String(1100))  # "bucket/key" fingerprinted; new audio, new print
    pcm_hash: Mapped[str] = mapped_column(String(64), index=True)  # the exact hash (exact.py), hex
    hash_scheme: Mapped[int] = mapped_column(Integer)  # exact.SCHEME; 1: from before it (exact.LegacyHash)
    duration_s: Mapped[float] = mapped_column(Float)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)  # raw Chromaprint, uint32 little-endian
    indexed: Mapped[bool] = mapped_column(Boolean)  # False: judged a duplicate, kept out of the index
    result: Mapped[dict] = mapped_column(JSON)  # the fingerprint.completed data, to republish as is
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_fingerprints_legacy_hash",
            "id",
            postgresql_where=text("hash_scheme = 1"),
            sqlite_where=text("hash_scheme = 1"),
        ),
    )


class PostingList(Base):
    """Inverted index: per key (``keys.key_values``), every (print id, position) holding it, packed
    as big-endian int32 pairs (``index.pack``). One row per key, not per posting: a row costs ~40
    bytes of overhead, a posting 8."""

    __tablename__ = "fingerprint_postings"
    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    postings: Mapped[bytes] = mapped_column(LargeBinary)


class ShiftPrint(Base):
    """A track's shift-robust print: its constant-Q peaks (``cqt_peaks.pack_peaks``). Its index keys
    follow from them (``triplets.index_keys``), so removal needs nothing else."""

    __tablename__ = "shift_prints"
    print_id: Mapped[int] = mapped_column(
        ForeignKey("fingerprints.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    peaks: Mapped[bytes] = mapped_column(LargeBinary)


class ShiftPostingList(Base):
    """Inverted index of triplet keys (``triplets.index_keys``): per key, the print ids holding it,
    packed as big-endian int32 (``index.pack_ids``)."""

    __tablename__ = "shift_postings"
    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    postings: Mapped[bytes] = mapped_column(LargeBinary)


class Removal(Base):
    """A track.removed seen: a validated event of that submission or older arriving late (a retry
    overtaken by the removal) must not put the track back into the index."""

    __tablename__ = "removals"
    track_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    submission: Mapped[int] = mapped_column(Integer)
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
