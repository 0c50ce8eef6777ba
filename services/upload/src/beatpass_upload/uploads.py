"""Resumable uploads: tus state in the database, bytes in an S3 multipart upload.

Bytes go straight into multipart parts of ``upload_part_bytes``; what is left below one part at
the end of a PATCH is parked in a ``.tail`` object until the next PATCH, so a PATCH holds one or
two of the process's shared part buffers (part_buffers.py) and any replica can continue the upload. A PATCH takes a lease on the
upload row first (``leases``: renewed while it runs, so a gateway that dies mid-PATCH lets go
within ``lease_s``). A second PATCH waits up to ``lease_s`` for it; while its holder lives it is
refused with 423.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from prometheus_client import Counter
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from beatpass_common import keys
from beatpass_common.config import Settings
from beatpass_common.db import affected
from beatpass_common.storage import ObjectStore

from . import inspection
from .leases import Heartbeat, wait_for
from .models import CollectionRecord, Submission, Upload
from .part_buffers import PartBuffers

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024  # small reads: no large short-lived blocks beside the part buffers
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}

BYTES_RECEIVED = Counter("beatpass_upload_bytes_received_total", "Upload bytes received and stored")
UPLOADS = Counter("beatpass_upload_uploads_total", "Upload lifecycle", ["outcome"])


class UploadError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Checksum:
    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str | None) -> Checksum | None:
        if not header:
            return None
        algorithm, _, value = header.strip().partition(" ")
        if algorithm not in CHECKSUMS:
            raise UploadError(
                400,
                "CHECKSUM_ALGORITHM_UNSUPPORTED",
                f"Checksum algorithm {algorithm!r} is not supported; use sha1 or sha256.",
            )
        try:
            return cls(algorithm, base64.b64decode(value.strip(), validate=True))
        except ValueError:
            raise UploadError(400, "CHECKSUM_INVALID", "Upload-Checksum is not valid base64.") from None


def parse_metadata(header: str | None) -> dict[str, str]:
    meta: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            raw = base64.b64decode(value, validate=True) if value else b""
        except ValueError:
            raise UploadError(400, "METADATA_INVALID", "Upload-Metadata values must be base64.") from None
        try:  # a file name reaches databases and events, which hold neither other bytes nor NUL
            text = raw.decode("utf-8")
            if "\x00" in text:
                raise ValueError("NUL")
        except ValueError:  # UnicodeDecodeError included
            raise UploadError(
                400, "METADATA_INVALID", "Upload-Metadata values must be base64 of UTF-8 text without NUL characters."
            ) from None
        meta[key] = text
    return meta


def is_upload_id(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) is not None


def _referenced(s: Session, upload_id: str) -> bool:
    """Whether a submission or collection refers to the upload (as audio or cover)."""
    return (
        s.scalars(
            select(Submission.track_id)
            .where(or_(Submission.audio_upload_id == upload_id, Submission.cover_upload_id == upload_id))
            .limit(1)
        ).first()
        is not None
        or s.scalars(select(CollectionRecord.id).where(CollectionRecord.cover_upload_id == upload_id).limit(1)).first()
        is not None
    )


def encode_metadata(meta: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in meta.items())


@dataclass(frozen=True)
class _Pending:
    """A part being stored on the pool's thread: its number and size are recorded once it is."""

    future: Future
    number: int
    size: int


class Uploads:
    def __init__(self, factory: sessionmaker[Session], store: ObjectStore, settings: Settings):
        self.factory = factory
        self.store = store
        self.settings = settings
        self.part_buffers = PartBuffers(settings.upload_part_buffers)

    # ---- creation and lookup ----------------------------------------------------------------

    def create(self, producer_id: str, length: int, meta: dict[str, str], concat: str | None = None) -> Upload:
        """A new upload of ``length`` bytes; ``concat`` "partial" makes it one part of a parallel
        upload (concatenation.py): never inspected, never saved by itself."""
        if length < 0:
            raise UploadError(400, "LENGTH_INVALID", "Upload-Length must be a whole number of bytes.")
        if length > self.settings.max_upload_bytes:
            raise UploadError(
                413,
                "UPLOAD_TOO_LARGE",
                f"This file is larger than the {self.settings.max_upload_bytes // 1024**2} MiB limit.",
            )
        if meta.get("kind") not in (None, *inspection.KINDS):
            raise UploadError(400, "UPLOAD_KIND_INVALID", "Upload-Metadata kind must be audio or cover.")
        upload_id = uuid.uuid4().hex
        key = keys.upload_key(producer_id, upload_id)
        t = now()
        upload = Upload(
            id=upload_id,
            producer_id=producer_id,
            length=length,
            offset=0,
            meta=meta,
            bucket=self.settings.uploads_bucket,
            key=key,
            parts=[],
            tail_size=0,
            status="active",
            concat=concat,
            created_at=t,
            expires_at=t + timedelta(seconds=self.settings.upload_expiry_s),
        )
        if length > 0:
            upload.multipart_id = self.store.create_multipart(
                upload.bucket, key, meta.get("filetype") or "application/octet-stream"
            )
        with self.factory() as s, s.begin():
            s.add(upload)
        if length == 0:
            self.store.put_bytes(upload.bucket, key, b"")
            upload.inspection = None if concat == "partial" else self._inspect(upload)
            self._mark_complete(upload_id, upload.inspection)
            upload.status = "complete"
        UPLOADS.labels("created").inc()
        return upload

    def get(self, producer_id: str, upload_id: str) -> Upload:
        """The caller's upload; another producer's answers exactly like an unknown id."""
        if not is_upload_id(upload_id):
            raise UploadError(404, "UPLOAD_NOT_FOUND", "Upload not found.")
        with self.factory() as s:
            upload = s.get(Upload, upload_id)
        if upload is None or upload.producer_id != producer_id:
            raise UploadError(404, "UPLOAD_NOT_FOUND", "Upload not found.")
        if upload.status in {"terminated", "expired"}:
            raise UploadError(410, "UPLOAD_GONE", "This upload has expired or was cancelled; upload the file again.")
        return upload

    def settled(self, producer_id: str, upload_id: str) -> Upload:
        """``get``, once no PATCH holds the upload's lease (waiting up to ``lease_s``; after that,
        as it is). A resume's HEAD comes right after its client cut the previous PATCH: read
        before that PATCH commits its last bytes, the offset is stale and the next PATCH a 409."""
        self.get(producer_id, upload_id)

        def free() -> bool | None:
            with self.factory() as s:
                held = s.scalar(select(Upload.id).where(Upload.id == upload_id, Upload.locked_until >= now()))
            return held is None or None

        wait_for(free, self.settings.lease_s)
        return self.get(producer_id, upload_id)

    # ---- appending ---------------------------------------------------------------------------

    def append(
        self,
        producer_id: str,
        upload_id: str,
        offset: int,
        body: BinaryIO,
        checksum: Checksum | None,
        declared: int | None = None,
    ) -> Upload:
        """Append ``body`` at ``offset``; ``declared`` is the request's Content-Length, checked
        against the room left before a single byte is stored."""
        with self.leased(self.get(producer_id, upload_id)) as token:
            upload = self.get(producer_id, upload_id)  # fresh state under the lease
            if upload.status == "active" and upload.expires_at < now():
                raise UploadError(410, "UPLOAD_GONE", "This upload has expired; upload the file again.")
            if offset == upload.offset and declared == 0:
                return upload  # nothing to add (tus: 204 with the offset, even once complete)
            if upload.concat == "final":  # tus: 403 for a PATCH of a final upload
                raise UploadError(
                    403,
                    "FINAL_UPLOAD_READ_ONLY",
                    "A final upload is assembled from its partial uploads; it takes no data.",
                    {"Upload-Offset": str(upload.offset)},
                )
            if upload.status == "complete" and offset == upload.offset:
                # tusd answers 204 and drops the bytes; we say why they are not taken.
                raise UploadError(
                    409,
                    "UPLOAD_COMPLETE",
                    "This upload is already complete; it takes no more data.",
                    {"Upload-Offset": str(upload.offset)},
                )
            if offset != upload.offset:
                raise UploadError(
                    409,
                    "OFFSET_MISMATCH",
                    f"Upload-Offset {offset} does not match the server's offset {upload.offset}.",
                    {"Upload-Offset": str(upload.offset)},
                )
            if declared is not None and declared > upload.length - upload.offset:
                raise UploadError(413, "UPLOAD_OVERFLOW", "More bytes were sent than the upload's declared length.")
            return self._write(upload, body, token, checksum)

    def _write(self, upload: Upload, body: BinaryIO, token: str, checksum: Checksum | None = None) -> Upload:
        """Stream ``body`` into parts, in the process's shared part buffers (part_buffers.py):
        503 UPLOAD_BUSY when none is given back within ``upload_buffer_wait_s``."""
        part_size = self.settings.upload_part_bytes
        first = self.part_buffers.take(part_size, self.settings.upload_buffer_wait_s)
        if first is None:
            raise UploadError(
                503,
                "UPLOAD_BUSY",
                "The gateway is receiving many uploads at once; try again shortly.",
                {"Retry-After": "5"},
            )
        buffers = [first]
        try:
            return self._stream(upload, body, token, checksum, buffers)
        finally:
            for buffer in buffers:
                self.part_buffers.give(buffer)

    def _stream(
        self, upload: Upload, body: BinaryIO, token: str, checksum: Checksum | None, buffers: list[bytearray]
    ) -> Upload:
        """Fill ``buffers[0]`` from the client and store it as a part; with a second buffer (taken
        when one is free) one fills while the other is stored, so receiving and storing overlap.
        With a ``checksum`` the parts are stored as they fill but recorded only once the whole
        body matches it: a mismatch, an overflow or a dropped connection keeps nothing (the
        stored parts are left out of the multipart upload's completion)."""
        part_size = self.settings.upload_part_bytes
        multipart_id = upload.multipart_id
        assert multipart_id is not None, "every upload that takes bytes has its multipart upload from creation"
        current, filled = 0, 0
        if upload.tail_size:
            assert upload.tail_key is not None, "a tail's bytes are stored under tail_key"
            tail = self.store.get_bytes(upload.bucket, upload.tail_key)
            buffers[0][: len(tail)] = tail
            filled = len(tail)
        parts = [list(p) for p in upload.parts]
        durable = upload.offset - upload.tail_size  # bytes already in stored parts
        room = upload.length - upload.offset
        received = 0
        pending: _Pending | None = None
        digest = CHECKSUMS[checksum.algorithm]() if checksum is not None else None
        unverified: list[tuple[list, int]] = []  # stored parts waiting for the checksum
        interrupted = False

        def settle() -> None:
            nonlocal pending, durable
            if pending is not None:
                number, size = pending.number, pending.size
                part = [number, pending.future.result()]
                pending = None
                if digest is not None:
                    unverified.append((part, size))
                    return
                parts.append(part)
                durable += size
                # Checkpoint: what is in stored parts is safe; the buffers are not yet.
                self._save_progress(upload.id, token, offset=durable, parts=parts, tail_size=0)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"part-{upload.id[:8]}") as pool:
            try:
                while True:
                    chunk = body.read(min(READ_CHUNK, part_size - filled, room - received + 1) or 1)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > room:
                        raise UploadError(
                            413, "UPLOAD_OVERFLOW", "More bytes were sent than the upload's declared length."
                        )
                    if digest is not None:
                        digest.update(chunk)
                    buffers[current][filled : filled + len(chunk)] = chunk
                    filled += len(chunk)
                    if filled == part_size:
                        settle()  # the other buffer is free again once its part is stored
                        if len(buffers) == 1 and (spare := self.part_buffers.try_take(part_size)) is not None:
                            buffers.append(spare)
                        number = self._reserve_part(upload.id, token)
                        pending = _Pending(
                            pool.submit(
                                self.store.upload_part,
                                upload.bucket,
                                upload.key,
                                multipart_id,
                                number,
                                buffers[current],
                            ),
                            number,
                            part_size,
                        )
                        if len(buffers) == 1:
                            settle()  # no spare buffer in the process: store the part before reading on
                        else:
                            current = 1 - current
                        filled = 0
            except (OSError, ConnectionError) as exc:  # the client went away: keep what arrived
                log.info("upload %s interrupted after %d bytes: %s", upload.id, received, exc)
                interrupted = True
            finally:
                settle()
        if checksum is not None and digest is not None:
            if interrupted:  # tus checksum: a body that cannot be verified is not kept
                return self._fresh(upload.id)
            if digest.digest() != checksum.digest:
                raise UploadError(
                    460, "CHECKSUM_MISMATCH", "The data does not match its checksum; nothing was written."
                )
            for part, size in unverified:
                parts.append(part)
                durable += size
        BYTES_RECEIVED.inc(received)
        rest = memoryview(buffers[current])[:filled]
        tail_key = None
        if durable + filled == upload.length:
            if filled or not parts:
                number = self._reserve_part(upload.id, token)
                parts.append([number, self.store.upload_part(upload.bucket, upload.key, multipart_id, number, rest)])
            self._renew(upload.id, token)  # still ours: nobody else can have added parts
            self.store.complete_multipart(upload.bucket, upload.key, multipart_id, [tuple(p) for p in parts])
            self.finish(upload, token, parts)
        else:
            if filled:  # a new object each time: a writer that lost its lease cannot clobber ours
                tail_key = keys.tail_key(upload.key, token[:12])
                self.store.put_bytes(upload.bucket, tail_key, rest)
            try:
                self._save_progress(
                    upload.id, token, offset=durable + filled, parts=parts, tail_size=filled, tail_key=tail_key
                )
            except UploadError:
                if tail_key:
                    self.store.delete(upload.bucket, tail_key)
                raise
        if upload.tail_key and upload.tail_key != tail_key:
            self.store.delete(upload.bucket, upload.tail_key)  # superseded
        return self._fresh(upload.id)

    def _fresh(self, upload_id: str) -> Upload:
        with self.factory() as s:
            return s.get_one(Upload, upload_id)

    def finish(self, upload: Upload, token: str, parts: list | None = None) -> None:
        """Record the upload, whose object is now whole in storage, as complete (under the lease
        ``token``) and inspect it once: headers only (a few ranged reads), whatever the size. A
        partial upload is not inspected: it is a slice of a file."""
        self._save_progress(upload.id, token, offset=upload.length, parts=parts or [], tail_size=0)
        self._mark_complete(upload.id, None if upload.concat == "partial" else self._inspect(upload))
        UPLOADS.labels("finished").inc()

    def _save_progress(
        self, upload_id: str, token: str, *, offset: int, parts: list, tail_size: int, tail_key: str | None = None
    ) -> None:
        """Record a consistent state: offset = bytes in parts + bytes in the tail object."""
        self._renew(upload_id, token, offset=offset, parts=parts, tail_size=tail_size, tail_key=tail_key)

    def _reserve_part(self, upload_id: str, token: str) -> int:
        with self.factory() as s, s.begin():
            upload = s.scalars(
                select(Upload).where(Upload.id == upload_id, Upload.lock_token == token).with_for_update()
            ).first()
            if upload is None:
                raise UploadError(423, "UPLOAD_LOCKED", "This upload was taken over by another request; resume it.")
            number = upload.next_part
            upload.next_part = number + 1
            return number

    def _renew(self, upload_id: str, token: str, **values) -> None:
        """Write ``values`` if the lease is still ours; losing it means another request took over: stop."""
        if not self._extend(upload_id, token, **values):
            raise UploadError(423, "UPLOAD_LOCKED", "This upload was taken over by another request; resume it.")

    def _mark_complete(self, upload_id: str, inspected: dict | None) -> None:
        with self.factory() as s, s.begin():
            s.execute(
                update(Upload)
                .where(Upload.id == upload_id)
                .values(status="complete", completed_at=now(), multipart_id=None, inspection=inspected)
            )

    # ---- inspection (inspection.py) ----------------------------------------------------------

    def _inspect(self, upload: Upload, kind: str | None = None) -> dict | None:
        """The complete upload judged as ``kind``; None when storage failed us (it is judged
        again when next read or saved: a storage hiccup must not fail the upload itself)."""
        try:
            return inspection.inspect(self.store, upload, self.settings, kind)
        except Exception:  # noqa: BLE001 - our fault, not the file's: retried lazily
            log.warning("inspection of upload %s failed; it is inspected again when read", upload.id, exc_info=True)
            return None

    def inspected(self, upload: Upload, kind: str | None = None) -> dict:
        """The complete upload's inspection as ``kind`` (default: as it was inspected). A kind
        other than the stored one is judged afresh and not stored; a missing one is stored.
        Raises UploadError 503 when storage cannot be read."""
        stored = upload.inspection
        if stored is not None and kind in (None, stored["kind"]):
            return stored
        result = self._inspect(upload, kind)
        if result is None:
            raise UploadError(
                503,
                "STORAGE_UNAVAILABLE",
                "Your upload cannot be read right now. It is safe; try again shortly.",
                {"Retry-After": "5"},
            )
        if stored is None:
            with self.factory() as s, s.begin():
                s.execute(
                    update(Upload).where(Upload.id == upload.id, Upload.inspection.is_(None)).values(inspection=result)
                )
        return result

    # ---- the lease that serialises PATCHes on one upload -------------------------------------

    def _lease_until(self) -> datetime:
        return now() + timedelta(seconds=self.settings.lease_s)

    def _extend(self, upload_id: str, token: str, **values) -> bool:
        with self.factory() as s, s.begin():
            return bool(
                affected(
                    s,
                    update(Upload)
                    .where(Upload.id == upload_id, Upload.lock_token == token)
                    .values(locked_until=self._lease_until(), **values),
                )
            )

    @contextmanager
    def leased(self, upload: Upload) -> Iterator[str]:
        """Hold the upload's lease (its token) for the ``with`` block, renewed meanwhile; waits
        up to ``lease_s`` for a holder that died to let go, then 423 (the holder is alive)."""
        token = uuid.uuid4().hex

        def take() -> bool | None:
            with self.factory() as s, s.begin():
                taken = affected(
                    s,
                    update(Upload)
                    .where(Upload.id == upload.id, or_(Upload.locked_until.is_(None), Upload.locked_until < now()))
                    .values(locked_until=self._lease_until(), lock_token=token),
                )
                return bool(taken) or None

        if not wait_for(take, self.settings.lease_s):
            raise UploadError(423, "UPLOAD_LOCKED", "Another request is writing to this upload; try again shortly.")
        try:
            with Heartbeat(lambda: self._extend(upload.id, token), self.settings.lease_s, f"lease-{upload.id[:8]}"):
                yield token
        finally:
            self._release(upload.id, token)

    def _release(self, upload_id: str, token: str) -> None:
        with self.factory() as s, s.begin():
            s.execute(
                update(Upload)
                .where(Upload.id == upload_id, Upload.lock_token == token)
                .values(locked_until=None, lock_token=None)
            )

    # ---- termination and expiry --------------------------------------------------------------

    def terminate(self, producer_id: str, upload_id: str) -> None:
        """Cancel an upload and free its storage; 409 UPLOAD_IN_USE while a submission refers to it.

        A saved upload stays for as long as its submission exists: a ready track's audio is the
        track's master, its cover the source of its images, and a rejected or failed track is
        retried from the same uploads (docs/DESIGN.md, Public HTTP)."""
        upload = self.get(producer_id, upload_id)
        with self.leased(upload) as token:
            with self.factory() as s, s.begin():
                # Locks the row a concurrent save holds (Saver.hold) and then reads
                # the submissions committed by then.
                row = s.scalars(
                    select(Upload).where(Upload.id == upload_id, Upload.lock_token == token).with_for_update()
                ).first()
                if row is None:
                    raise UploadError(423, "UPLOAD_LOCKED", "This upload was taken over by another request; resume it.")
                if row.track_id or _referenced(s, upload_id):
                    raise UploadError(
                        409,
                        "UPLOAD_IN_USE",
                        "This upload is part of a saved track or collection and cannot be deleted.",
                    )
                if (
                    row.final_id
                    and s.scalars(select(Upload.status).where(Upload.id == row.final_id)).first() == "active"
                ):
                    raise UploadError(
                        409,
                        "PARTIAL_JOINING",
                        "This partial upload is being joined into its final upload; delete the final upload instead.",
                    )
                doomed = [Upload(bucket=row.bucket, key=row.key, multipart_id=row.multipart_id, tail_key=row.tail_key)]
                row.status, row.multipart_id = "terminated", None
                if row.concat == "final":  # its partials go with it (their objects, if still there, too)
                    for partial in s.scalars(select(Upload).where(Upload.id.in_(row.partials or [])).with_for_update()):
                        doomed.append(Upload(bucket=partial.bucket, key=partial.key))
                        partial.status = "terminated"
            for gone in doomed:  # after the commit: a save can no longer take it
                self._discard(gone)
        UPLOADS.labels("terminated").inc()

    def _discard(self, upload: Upload) -> None:
        if upload.multipart_id:
            self.store.abort_multipart(upload.bucket, upload.key, upload.multipart_id)
        if upload.tail_key:
            self.store.delete(upload.bucket, upload.tail_key)
        self.store.delete(upload.bucket, upload.key)

    def sweep_expired(self, limit: int = 100) -> int:
        """Abort unfinished uploads past Upload-Expires and free their storage."""
        with self.factory() as s:
            expired = s.scalars(
                select(Upload)
                .where(
                    Upload.status == "active",
                    Upload.expires_at < now(),
                    or_(Upload.locked_until.is_(None), Upload.locked_until < now()),
                )
                .limit(limit)
            ).all()
        for upload in expired:
            self._discard(upload)
            with self.factory() as s, s.begin():
                s.execute(
                    update(Upload)
                    .where(Upload.id == upload.id, Upload.status == "active")
                    .values(status="expired", multipart_id=None)
                )
            UPLOADS.labels("expired").inc()
        return len(expired)
