"""tus concatenation: partial uploads joined into a final upload, inside the object store.

A client (tus-js-client's ``parallelUploads``) uploads slices of one file as partial uploads
(``Upload-Concat: partial``) at the same time, then creates the final upload with
``Upload-Concat: final;<url> <url> …``. The final's object is composed by the store from the
partials' objects (S3: a multipart upload of UploadPartCopy parts), so no byte passes through the
gateway again; then the partials' objects are deleted. The final is an ordinary complete upload
from then on: inspected once, saved, counted against upload minutes, terminated like any other.

Rules (docs/DESIGN.md, docs/api-limits.md): only the caller's own complete partial uploads, each
once, at most ``upload_concat_parts_max``, every one but the last at least
``upload_concat_part_min_bytes``, the sum within ``max_upload_bytes``. The same list posted again
(a retry whose answer was lost) answers with the final it created before, never a second one.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from beatpass_common import keys

from . import inspection
from .models import Upload
from .uploads import UPLOADS, UploadError, Uploads, is_upload_id, now

_UPLOAD_PATH = re.compile(r"/api/v1/uploads/([0-9a-f]{32})$")
INVALID = (
    'Upload-Concat must be "partial", or "final;" followed by the URLs of your partial uploads separated by spaces.'
)


def parse_header(header: str | None) -> tuple[str | None, list[str]]:
    """``Upload-Concat`` as ``(None | "partial" | "final", [upload id, …])``; the ids are the last
    segment of each URL (absolute or a path ending in /api/v1/uploads/{id}). 400 CONCAT_INVALID otherwise."""
    if header is None:
        return None, []
    value = header.strip()
    if value == "partial":
        return "partial", []
    kind, sep, urls = value.partition(";")
    if kind != "final" or not sep or not urls.strip():
        raise UploadError(400, "CONCAT_INVALID", INVALID)
    ids = []
    for url in urls.split():
        match = _UPLOAD_PATH.search(urlsplit(url).path)
        if match is None:
            raise UploadError(400, "CONCAT_INVALID", INVALID)
        ids.append(match.group(1))
    return "final", ids


def concat_header(base: str, upload: Upload) -> str:
    """The ``Upload-Concat`` a HEAD answers: ``partial``, or ``final;`` and the partials' URLs."""
    if upload.concat == "partial":
        return "partial"
    return "final;" + " ".join(f"{base}/api/v1/uploads/{pid}" for pid in upload.partials or [])


def concatenate(uploads: Uploads, producer_id: str, partial_ids: list[str], meta: dict[str, str]) -> Upload:
    """The final upload of ``partial_ids`` (in that order), created and assembled; the one created
    before when the same list comes again. Raises UploadError with the codes of docs/api-limits.md."""
    settings = uploads.settings
    if len(partial_ids) > settings.upload_concat_parts_max:
        raise UploadError(
            400,
            "CONCAT_TOO_MANY_PARTS",
            f"A final upload may join at most {settings.upload_concat_parts_max} partial uploads.",
        )
    if len(set(partial_ids)) != len(partial_ids):
        raise UploadError(400, "CONCAT_PART_REPEATED", "Each partial upload may appear once in a final upload.")
    if meta.get("kind") not in (None, *inspection.KINDS):
        raise UploadError(400, "UPLOAD_KIND_INVALID", "Upload-Metadata kind must be audio or cover.")
    with uploads.factory() as s, s.begin():
        # Locked in id order: concurrent finals over the same partials wait for each other
        # instead of deadlocking, and the second one sees what the first one did.
        rows = {
            u.id: u
            for u in s.scalars(
                select(Upload)
                .where(Upload.id.in_([pid for pid in partial_ids if is_upload_id(pid)]))
                .order_by(Upload.id)
                .with_for_update()
            )
        }
        partials = [_usable(rows.get(pid), n, producer_id) for n, pid in enumerate(partial_ids, 1)]
        joined = {p.final_id for p in partials}
        if joined != {None}:
            previous = s.get(Upload, next(iter(joined))) if len(joined) == 1 else None
            if previous is None or previous.partials != partial_ids:
                n = next(n for n, p in enumerate(partials, 1) if p.final_id is not None)
                raise UploadError(
                    409, "PARTIAL_ALREADY_JOINED", f"Partial upload {n} is already part of another final upload."
                )
            final = previous  # a retry: the final this list made before
        else:
            final = _new_final(uploads, producer_id, partials, meta)
            s.add(final)
            for p in partials:
                p.final_id = final.id
            UPLOADS.labels("concatenated").inc()
        final_id = final.id
    return assemble(uploads, producer_id, final_id)


def _usable(upload: Upload | None, n: int, producer_id: str) -> Upload:
    """The n-th partial upload if a final may join it (another producer's reads as unknown)."""
    if upload is None or upload.producer_id != producer_id:
        raise UploadError(404, "PARTIAL_NOT_FOUND", f"Partial upload {n} was not found.")
    if upload.status in {"terminated", "expired"} or (upload.status == "active" and upload.expires_at < now()):
        raise UploadError(
            410, "PARTIAL_GONE", f"Partial upload {n} has expired or was cancelled; upload the file again."
        )
    if upload.concat != "partial":
        raise UploadError(
            400, "NOT_PARTIAL", f"Upload {n} is not a partial upload (it was not created with Upload-Concat: partial)."
        )
    if upload.status != "complete":
        raise UploadError(
            400,
            "PARTIAL_INCOMPLETE",
            f"Partial upload {n} is not finished ({upload.offset} of {upload.length} bytes); "
            "finish it before creating the final upload.",
        )
    return upload


def _new_final(uploads: Uploads, producer_id: str, partials: list[Upload], meta: dict[str, str]) -> Upload:
    settings = uploads.settings
    minimum = settings.upload_concat_part_min_bytes
    for n, p in enumerate(partials[:-1], 1):
        if p.length < minimum:
            raise UploadError(
                400,
                "PARTIAL_TOO_SMALL",
                f"Partial upload {n} is {p.length} bytes; every partial upload but the last "
                f"must be at least {minimum} bytes.",
            )
    length = sum(p.length for p in partials)
    if length > settings.max_upload_bytes:
        raise UploadError(
            413, "UPLOAD_TOO_LARGE", f"This file is larger than the {settings.max_upload_bytes // 1024**2} MiB limit."
        )
    final_id = uuid.uuid4().hex
    t = now()
    return Upload(
        id=final_id,
        producer_id=producer_id,
        length=length,
        offset=0,
        meta=meta,
        bucket=settings.uploads_bucket,
        key=keys.upload_key(producer_id, final_id),
        parts=[],
        tail_size=0,
        status="active",
        concat="final",
        partials=[p.id for p in partials],
        created_at=t,
        expires_at=t + timedelta(seconds=settings.upload_expiry_s),
    )


def assemble(uploads: Uploads, producer_id: str, final_id: str) -> Upload:
    """Compose the final's object from its partials' unless done; any request may finish what a
    dead one started (under the final's lease; 423 UPLOAD_LOCKED while a live one works on it)."""
    final = uploads.get(producer_id, final_id)
    if final.status == "complete":
        return final
    with uploads.leased(final) as token:
        final = uploads.get(producer_id, final_id)
        if final.status == "complete":
            return final
        partial_ids = final.partials or []  # a final always lists its partials (create_final)
        with uploads.factory() as s:
            partials = {p.id: p for p in s.scalars(select(Upload).where(Upload.id.in_(partial_ids)))}
        sources = [partials[pid].key for pid in partial_ids if partials[pid].length]
        if sources:
            uploads.store.compose(
                final.bucket, final.key, sources, final.meta.get("filetype") or "application/octet-stream"
            )
        else:
            uploads.store.put_bytes(final.bucket, final.key, b"")
        uploads.finish(final, token)
    for pid in partial_ids:  # their bytes live in the final now
        uploads.store.delete(partials[pid].bucket, partials[pid].key)
    return uploads.get(producer_id, final_id)
