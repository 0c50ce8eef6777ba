"""The duplicate index in the service's database (PostgreSQL or SQLite)."""

from __future__ import annotations

import zlib
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Integer, and_, any_, bindparam, delete, insert, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from .chroma import AudioPrint, fingerprint_from_bytes
from .exact import LEGACY_SCHEME, SCHEME
from .keys import index_entries, lock_keys
from .models import IndexEntry, Removal, TrackPrint

_CHUNK = 5000  # keys per IN (...) list; SQLite caps bound parameters
# Advisory lock namespaces (PostgreSQL's two-int form); locks are taken in (namespace, id) order.
_NS_TRACK, _NS_HASH, _NS_KEY = 1, 2, 3


def lock_content(session: Session, track_id: str, fingerprint: np.ndarray | None = None,
                 hashes: tuple[str | None, ...] = (), *, max_keys: int = 512, timeout_s: float = 30.0) -> None:
    """Lock what this transaction's lookup and insert are about, until it ends: the track id, its
    exact hashes and (``keys.lock_keys``) up to ``max_keys`` of its index keys. Two copies of one
    audio share their hash, two acoustic copies share keys, so one waits for the other's commit and
    then sees it; unrelated tracks rarely share a lock and run side by side. All locks are taken in
    one statement in a fixed order, so two transactions cannot deadlock; a wait past ``timeout_s``
    fails the transaction (the message is retried). SQLite: BEGIN IMMEDIATE already serialises
    writers, nothing to do. Raises ``sqlalchemy.exc.OperationalError`` on the timeout."""
    if session.bind.dialect.name != "postgresql":
        return
    locks = {(_NS_TRACK, _int32(zlib.crc32(track_id.encode())))}
    locks |= {(_NS_HASH, _int32(int(h[:8], 16))) for h in hashes if h}
    if fingerprint is not None:
        locks |= {(_NS_KEY, int(k)) for k in lock_keys(fingerprint, max_keys)}
    namespaces, ids = zip(*sorted(locks))
    session.execute(text(f"SET LOCAL lock_timeout = {int(timeout_s * 1000)}"))
    session.execute(text("SELECT count(pg_advisory_xact_lock(n, k)) FROM unnest(CAST(:ns AS int[]), CAST(:ks AS int[])) "
                         "AS t(n, k)"), {"ns": list(namespaces), "ks": list(ids)})


def _int32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def get(session: Session, track_id: str) -> TrackPrint | None:
    return session.scalar(select(TrackPrint).where(TrackPrint.track_id == track_id))


def find_exact(session: Session, audio: AudioPrint, exclude: set[str]) -> TrackPrint | None:
    """The first indexed track with the same exact hash: scheme 2, or scheme 1 when ``audio`` has
    that hash too (computed while rows of scheme 1 remain, see ``has_legacy_hashes``)."""
    same = and_(TrackPrint.pcm_hash == audio.pcm_hash, TrackPrint.hash_scheme == SCHEME)
    if audio.legacy_hash is not None:
        same = or_(same, and_(TrackPrint.pcm_hash == audio.legacy_hash, TrackPrint.hash_scheme == LEGACY_SCHEME))
    query = select(TrackPrint).where(same, TrackPrint.indexed.is_(True),
                                     TrackPrint.track_id.not_in(exclude)).order_by(TrackPrint.id).limit(1)
    return session.scalar(query)


def has_legacy_hashes(session: Session) -> bool:
    """Whether any row still holds a scheme-1 hash (a partial index answers it)."""
    return session.scalar(select(TrackPrint.id).where(TrackPrint.hash_scheme == LEGACY_SCHEME).limit(1)) is not None


def postings(session: Session, keys: np.ndarray, exclude: set[str]) -> np.ndarray:
    """(key, print id, position) rows for ``keys``, without the excluded tracks."""
    unique = np.unique(keys).tolist()
    columns = select(IndexEntry.key, IndexEntry.print_id, IndexEntry.position)
    if session.bind.dialect.name == "postgresql":  # one array parameter instead of thousands
        rows = session.execute(columns.where(IndexEntry.key == any_(bindparam("keys", unique, ARRAY(Integer))))).all()
    else:
        rows = []
        for i in range(0, len(unique), _CHUNK):
            rows.extend(session.execute(columns.where(IndexEntry.key.in_(unique[i:i + _CHUNK]))).all())
    result = np.array(rows, np.int64).reshape(-1, 3)
    skip = session.scalars(select(TrackPrint.id).where(TrackPrint.track_id.in_(exclude))).all()
    return result[~np.isin(result[:, 1], skip)] if skip else result


def fingerprints(session: Session, print_ids: list[int]) -> dict[int, tuple[str, np.ndarray]]:
    query = select(TrackPrint.id, TrackPrint.track_id, TrackPrint.fingerprint).where(TrackPrint.id.in_(print_ids))
    return {pid: (track_id, fingerprint_from_bytes(fp)) for pid, track_id, fp in session.execute(query)}


def add(session: Session, *, track_id: str, producer_id: str, source: str, audio: AudioPrint,
        indexed: bool, result: dict, submission: int = 0) -> TrackPrint:
    row = TrackPrint(track_id=track_id, producer_id=producer_id, submission=submission, source=source,
                     pcm_hash=audio.pcm_hash, hash_scheme=SCHEME,
                     duration_s=audio.duration_s, fingerprint=audio.fingerprint_bytes(), indexed=indexed,
                     result=result, created_at=datetime.now(timezone.utc))
    session.add(row)
    session.flush()
    if indexed:
        _insert_entries(session, row.id, audio.fingerprint)
    return row


def admit(session: Session, row: TrackPrint) -> None:
    """Index a track held out as a duplicate (its dispute was accepted)."""
    if not row.indexed:
        _insert_entries(session, row.id, fingerprint_from_bytes(row.fingerprint))
        row.indexed = True


def _insert_entries(session: Session, print_id: int, fingerprint: np.ndarray) -> None:
    entries = index_entries(fingerprint)
    if entries:
        session.execute(insert(IndexEntry), [{"print_id": print_id, "key": k, "position": p} for k, p in entries])


def remove(session: Session, track_id: str) -> bool:
    """Drop a track's fingerprint and index rows; False when there was nothing to drop."""
    row = get(session, track_id)
    if row is None:
        return False
    session.execute(delete(IndexEntry).where(IndexEntry.print_id == row.id))  # SQLite may run without FKs
    session.delete(row)
    session.flush()
    return True


def record_removal(session: Session, track_id: str, submission: int) -> None:
    row = session.get(Removal, track_id)
    if row is None:
        session.add(Removal(track_id=track_id, submission=submission, removed_at=datetime.now(timezone.utc)))
    else:
        row.submission = max(row.submission, submission)


def was_removed(session: Session, track_id: str, submission: int) -> bool:
    """Whether this submission of the track (or a later one) has already left the catalog."""
    row = session.get(Removal, track_id)
    return row is not None and row.submission >= submission
