"""The producer's library on any device: collections list, one upload's state and inspection, and
the original audio of a track for the page's player (HTTP ranges, streamed).

HTTP only; the work is in reads.py, inspection.py, ranges.py and uploads.py.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from beatpass_common.http import problem
from beatpass_common.storage import ObjectNotFound

from . import inspection, ranges, reads
from .access import current_producer, reader_id
from .api import _check_ids, _gw, _missing, _relay
from .uploads import UploadError

bp = Blueprint("library", __name__)
bp.url_value_preprocessor(_check_ids)  # track ids are UUIDs, as in api.py
STREAM_CHUNK = 256 * 1024


@bp.get("/api/v1/collections")
def list_collections():
    """``{"items": [collection view], "page", "per_page", "total"}``, newest first."""
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    params, problems = reads.list_query(request.args)
    if problems:
        return problem(400, "The collection list query is not valid.", [e.as_dict() for e in problems])
    return _relay(*gw.catalog.get(producer.id, "collections", params), producer.id)


@bp.get("/api/v1/uploads/<upload_id>")
def upload_state(upload_id):
    """``{"id", "kind", "filename", "length", "offset", "complete", "inspection"}`` of the
    caller's upload (inspection.py for its shape; null until the upload is complete, and always
    for a partial upload)."""
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    try:
        upload = gw.uploads.get(producer.id, upload_id)
        complete = upload.status == "complete"
        # a partial upload is a slice of a file: never inspected
        inspected = gw.uploads.inspected(upload) if complete and upload.concat != "partial" else None
    except UploadError as exc:
        return problem(
            exc.status, exc.message, [{"field": None, "code": exc.code, "message": exc.message}], headers=exc.headers
        )
    kind = inspected["kind"] if inspected else inspection.declared_kind(upload)
    return jsonify(
        id=upload.id,
        kind=kind,
        filename=(upload.meta or {}).get("filename"),
        length=upload.length,
        offset=upload.offset,
        complete=complete,
        inspection=inspected,
    )


@bp.get("/api/v1/tracks/<track_id>/media/audio")
def audio(track_id):
    """The producer's original WAV of the track's latest submission: whole (200) or one byte
    range (206), 416 RANGE_NOT_SATISFIABLE past its end; 404 for anyone else's track."""
    gw = _gw()
    producer_id = reader_id(gw.settings)
    upload = reads.track_audio(gw.factory, producer_id, [track_id]).get(track_id)
    if upload is None:
        return _missing("media")
    total, etag = upload.length, f'"{upload.id}"'  # a complete upload never changes
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "private, max-age=300"}
    try:
        wanted = ranges.requested(
            request.headers.get("Range"), total, if_range=request.headers.get("If-Range"), etag=etag
        )
    except ranges.Unsatisfiable:
        message = f"This range is outside the audio file, which is {total} bytes long."
        return problem(
            416,
            message,
            [{"field": None, "code": "RANGE_NOT_SATISFIABLE", "message": message}],
            headers={**headers, "Content-Range": f"bytes */{total}"},
        )
    start, length = (0, total) if wanted is None else (wanted.start, wanted.length)
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range(total)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":  # the headers only: nothing is read from storage
        return Response(iter(()), 206 if wanted else 200, headers=headers, content_type="audio/wav")
    try:
        stream = gw.store.open(upload.bucket, upload.key, start, length)
    except ObjectNotFound:
        return _missing("media")

    def chunks():
        with stream:
            while data := stream.read(STREAM_CHUNK):
                yield data

    response = Response(
        chunks(), 206 if wanted else 200, headers=headers, content_type="audio/wav", direct_passthrough=True
    )
    response.call_on_close(stream.close)  # also when the player goes away mid-file
    return response
