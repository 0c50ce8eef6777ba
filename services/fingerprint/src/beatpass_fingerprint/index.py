"""The duplicate index in the service's database (PostgreSQL or SQLite)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Integer, and_, any_, bindparam, delete, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from .chroma import AudioPrint, fingerprint_from_bytes
from .cqt_peaks import Peaks, pack_peaks, unpack_peaks
from .exact import LEGACY_SCHEME, SCHEME
from .keys import bottom_k, index_entries, lock_keys
from .models import PostingList, Removal, ShiftPostingList, ShiftPrint, TrackPrint
from .triplets import index_keys, triplets

_CHUNK = 5000  # keys per IN (...) list; SQLite caps bound parameters
# Advisory lock namespaces (PostgreSQL's two-int form); locks are taken in (namespace, id) order.
_NS_TRACK, _NS_HASH, _NS_KEY, _NS_SHIFT_KEY = 1, 2, 3, 4


def lock_content(
    session: Session,
    track_id: str,
    fingerprint: np.ndarray | None = None,
    hashes: tuple[str | None, ...] = (),
    shift_keys: np.ndarray | None = None,
    *,
    max_keys: int = 512,
    timeout_s: float = 30.0,
) -> None:
    """Lock what this transaction's lookup and insert are about, until it ends: the track id, its
    exact hashes and (``keys.lock_keys``) up to ``max_keys`` of its index keys, and as many of its
    shift-robust keys (``shift_keys``: ``triplets.index_keys``, chosen the same way). Two copies of
    one audio share their hash, two acoustic copies share keys, two shifted copies share triplet
    keys, so one waits for the other's commit and then sees it; unrelated tracks rarely share a
    lock and run side by side. All locks are taken in
    one statement in a fixed order, so two transactions cannot deadlock; a wait past ``timeout_s``
    fails the transaction (the message is retried). SQLite: BEGIN IMMEDIATE already serialises
    writers, nothing to do. Raises ``sqlalchemy.exc.OperationalError`` on the timeout."""
    if session.get_bind().dialect.name != "postgresql":
        return
    locks = {(_NS_TRACK, _int32(zlib.crc32(track_id.encode())))}
    locks |= {(_NS_HASH, _int32(int(h[:8], 16))) for h in hashes if h}
    if fingerprint is not None:
        locks |= {(_NS_KEY, int(k)) for k in lock_keys(fingerprint, max_keys)}
    if shift_keys is not None:
        locks |= {(_NS_SHIFT_KEY, int(k)) for k in bottom_k(shift_keys, max_keys)}
    namespaces, ids = zip(*sorted(locks), strict=False)
    session.execute(text(f"SET LOCAL lock_timeout = {int(timeout_s * 1000)}"))
    session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(n, k)) FROM unnest(CAST(:ns AS int[]), CAST(:ks AS int[])) AS t(n, k)"
        ),
        {"ns": list(namespaces), "ks": list(ids)},
    )


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
    query = (
        select(TrackPrint)
        .where(same, TrackPrint.indexed.is_(True), TrackPrint.track_id.not_in(exclude))
        .order_by(TrackPrint.id)
        .limit(1)
    )
    return session.scalar(query)


def has_legacy_hashes(session: Session) -> bool:
    """Whether any row still holds a scheme-1 hash (a partial index answers it)."""
    return session.scalar(select(TrackPrint.id).where(TrackPrint.hash_scheme == LEGACY_SCHEME).limit(1)) is not None


def pack(pairs: np.ndarray | list[tuple[int, int]]) -> bytes:
    """(print id, position) rows as a posting list's bytes: big-endian int32 pairs."""
    return np.asarray(pairs, ">i4").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, ">i4").reshape(-1, 2)


def pack_ids(ids) -> bytes:
    """Print ids as a shift posting list's bytes: big-endian int32."""
    return np.asarray(ids, ">i4").tobytes()


def unpack_ids(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, ">i4")


def _lists(
    session: Session,
    keys: list[int],
    for_update: bool = False,
    model: type[PostingList] | type[ShiftPostingList] = PostingList,
) -> list[tuple[int, bytes]]:
    """(key, packed postings) of the keys present in ``model``'s table, in key order."""
    query = select(model.key, model.postings).order_by(model.key)
    if session.get_bind().dialect.name == "postgresql":  # one array parameter instead of thousands
        query = query.where(model.key == any_(bindparam("keys", keys, ARRAY(Integer))))
        return [(k, p) for k, p in session.execute(query.with_for_update() if for_update else query).all()]
    rows: list[tuple[int, bytes]] = []
    for i in range(0, len(keys), _CHUNK):
        rows.extend((k, p) for k, p in session.execute(query.where(model.key.in_(keys[i : i + _CHUNK]))).all())
    return rows


def _excluded_ids(session: Session, exclude: set[str]) -> list[int]:
    return list(session.scalars(select(TrackPrint.id).where(TrackPrint.track_id.in_(exclude)))) if exclude else []


def postings(session: Session, keys: np.ndarray, exclude: set[str]) -> np.ndarray:
    """(key, print id, position) rows for ``keys``, without the excluded tracks."""
    rows = _lists(session, np.unique(keys).tolist())
    if not rows:
        return np.zeros((0, 3), np.int64)
    pairs = [unpack(blob) for _, blob in rows]
    result = np.empty((sum(len(p) for p in pairs), 3), np.int64)
    result[:, 0] = np.repeat([key for key, _ in rows], [len(p) for p in pairs])
    result[:, 1:] = np.concatenate(pairs)
    skip = _excluded_ids(session, exclude)
    return result[~np.isin(result[:, 1], skip)] if skip else result


def shift_postings(session: Session, keys: np.ndarray, exclude: set[str]) -> np.ndarray:
    """The print ids holding each of ``keys`` (sorted, unique), one entry per (key, print), without
    the excluded tracks: int64."""
    query = select(ShiftPostingList.postings)
    if session.get_bind().dialect.name == "postgresql":  # joined by the server: one value instead of thousands of rows
        blobs = [
            session.scalar(
                text("SELECT string_agg(postings, ''::bytea) FROM shift_postings WHERE key = ANY(:keys)"),
                {"keys": keys.tolist()},
            )
            or b""
        ]
    else:
        blobs = [
            b
            for i in range(0, len(keys), _CHUNK)
            for b in session.scalars(query.where(ShiftPostingList.key.in_(keys[i : i + _CHUNK].tolist())))
        ]
    ids = unpack_ids(b"".join(blobs)).astype(np.int64)  # one buffer: thousands of small lists
    skip = _excluded_ids(session, exclude)
    return ids[~np.isin(ids, skip)] if skip else ids


def shift_prints(session: Session, print_ids: list[int]) -> dict[int, tuple[str, float, Peaks]]:
    """print id -> (track id, duration in seconds, peaks) of the given prints that have a shift print."""
    query = (
        select(TrackPrint.id, TrackPrint.track_id, TrackPrint.duration_s, ShiftPrint.peaks)
        .join(ShiftPrint, ShiftPrint.print_id == TrackPrint.id)
        .where(TrackPrint.id.in_(print_ids))
    )
    return {pid: (track_id, duration, unpack_peaks(peaks)) for pid, track_id, duration, peaks in session.execute(query)}


def stored_shift_keys(session: Session, print_id: int) -> np.ndarray | None:
    """The triplet keys a stored shift print is indexed under; None when the row has none."""
    peaks = session.scalar(select(ShiftPrint.peaks).where(ShiftPrint.print_id == print_id))
    return None if peaks is None else index_keys(triplets(unpack_peaks(peaks)))


def fingerprints(session: Session, print_ids: list[int]) -> dict[int, tuple[str, np.ndarray]]:
    query = select(TrackPrint.id, TrackPrint.track_id, TrackPrint.fingerprint).where(TrackPrint.id.in_(print_ids))
    return {pid: (track_id, fingerprint_from_bytes(fp)) for pid, track_id, fp in session.execute(query)}


def add(
    session: Session,
    *,
    track_id: str,
    producer_id: str,
    source: str,
    audio: AudioPrint,
    indexed: bool,
    result: dict,
    submission: int = 0,
) -> TrackPrint:
    row = TrackPrint(
        track_id=track_id,
        producer_id=producer_id,
        submission=submission,
        source=source,
        pcm_hash=audio.pcm_hash,
        hash_scheme=SCHEME,
        duration_s=audio.duration_s,
        fingerprint=audio.fingerprint_bytes(),
        indexed=indexed,
        result=result,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    if audio.peaks is not None:
        session.add(ShiftPrint(print_id=row.id, peaks=pack_peaks(audio.peaks)))
    if indexed:
        _insert_entries(session, row.id, audio.fingerprint)
        if audio.peaks is not None:
            _insert_shift_entries(session, row.id, index_keys(triplets(audio.peaks)))
    return row


def admit(session: Session, row: TrackPrint) -> None:
    """Index a track held out as a duplicate (its dispute was accepted), its shift print too."""
    if not row.indexed:
        _insert_entries(session, row.id, fingerprint_from_bytes(row.fingerprint))
        if (keys := stored_shift_keys(session, row.id)) is not None:
            _insert_shift_entries(session, row.id, keys)
        row.indexed = True


def _insert_entries(session: Session, print_id: int, fingerprint: np.ndarray) -> None:
    """Append the track's postings to their keys' lists."""
    entries = sorted(index_entries(fingerprint))
    _append(session, PostingList, [k for k, _ in entries], [pack([(print_id, p)]) for _, p in entries])


def _insert_shift_entries(session: Session, print_id: int, keys: np.ndarray) -> None:
    _append(session, ShiftPostingList, keys.tolist(), [pack_ids([print_id])] * len(keys))


def _append(
    session: Session, model: type[PostingList] | type[ShiftPostingList], keys: list[int], blobs: list[bytes]
) -> None:
    """Append each blob to its key's list in ``model``'s table, in key order (``keys`` sorted: two
    writers lock rows in the same order, so they cannot deadlock)."""
    if not keys:
        return
    table = model.__tablename__
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                f"INSERT INTO {table} (key, postings) SELECT k, p FROM unnest(CAST(:ks AS int[]), "
                f"CAST(:ps AS bytea[])) AS t(k, p) ORDER BY k ON CONFLICT (key) DO UPDATE SET postings = "
                f"{table}.postings || EXCLUDED.postings"
            ),
            {"ks": keys, "ps": blobs},
        )
        return
    # SQLite: '||' turns blobs into text; its single writer (BEGIN IMMEDIATE) makes read-then-write safe.
    existing = dict(_lists(session, keys, model=model))
    session.execute(
        text(
            f"INSERT INTO {table} (key, postings) VALUES (:k, :p) "
            "ON CONFLICT (key) DO UPDATE SET postings = excluded.postings"
        ),
        [{"k": k, "p": existing.get(k, b"") + b} for k, b in zip(keys, blobs, strict=False)],
    )


def _delete_entries(session: Session, print_id: int, fingerprint: np.ndarray) -> None:
    """Take the track's postings out of their keys' lists (the keys follow from its fingerprint)."""
    keys = sorted({k for k, _ in index_entries(fingerprint)})
    _take_out(session, PostingList, keys, lambda blob: _without_pairs(blob, print_id))


def _without_pairs(blob: bytes, print_id: int) -> bytes | None:
    pairs = unpack(blob)
    rest = pairs[pairs[:, 0] != print_id]
    return None if len(rest) == len(pairs) else pack(rest)


def _without_id(blob: bytes, print_id: int) -> bytes | None:
    ids = unpack_ids(blob)
    rest = ids[ids != print_id]
    return None if len(rest) == len(ids) else pack_ids(rest)


def _take_out(session: Session, model: type[PostingList] | type[ShiftPostingList], keys: list[int], without) -> None:
    """Rewrite ``keys``' lists with ``without(blob)`` (None: nothing of the track in it), deleting
    the lists it empties."""
    kept, emptied = [], []
    for key, blob in _lists(session, keys, for_update=True, model=model):
        rest = without(blob)
        if rest is None:
            continue
        (kept.append({"k": key, "p": rest}) if rest else emptied.append(key))
    if kept:
        session.execute(text(f"UPDATE {model.__tablename__} SET postings = :p WHERE key = :k"), kept)
    if emptied:
        session.execute(delete(model).where(model.key.in_(emptied)))


def remove(session: Session, track_id: str) -> bool:
    """Drop a track's fingerprint and postings; False when there was nothing to drop."""
    row = get(session, track_id)
    if row is None:
        return False
    shift_keys = stored_shift_keys(session, row.id)
    if row.indexed:
        _delete_entries(session, row.id, fingerprint_from_bytes(row.fingerprint))
        if shift_keys is not None:
            _take_out(session, ShiftPostingList, shift_keys.tolist(), lambda blob: _without_id(blob, row.id))
    if shift_keys is not None:  # explicitly: SQLite enforces the cascade only with foreign keys on
        session.execute(delete(ShiftPrint).where(ShiftPrint.print_id == row.id))
    session.delete(row)
    session.flush()
    return True


def record_removal(session: Session, track_id: str, submission: int) -> None:
    row = session.get(Removal, track_id)
    if row is None:
        session.add(Removal(track_id=track_id, submission=submission, removed_at=datetime.now(UTC)))
    else:
        row.submission = max(row.submission, submission)


def was_removed(session: Session, track_id: str, submission: int) -> bool:
    """Whether this submission of the track (or a later one) has already left the catalog."""
    row = session.get(Removal, track_id)
    return row is not None and row.submission >= submission
