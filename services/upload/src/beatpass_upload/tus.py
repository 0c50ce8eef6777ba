"""tus 1.0.0 over /api/v1/uploads: core, creation, creation-with-upload, termination, checksum
(sha1, sha256), expiration and concatenation. Protocol details live here; upload state lives in
uploads.py, partial and final uploads in concatenation.py."""

from __future__ import annotations

from email.utils import format_datetime

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import ClientDisconnected

from beatpass_common.http import problem

from . import concatenation
from .access import current_producer
from .inputs import ascii_whole_number
from .uploads import Checksum, UploadError, encode_metadata, parse_metadata

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration,concatenation"
OCTET = "application/offset+octet-stream"

bp = Blueprint("tus", __name__)


class _Body:
    """The request body as a stream; a client that disconnects looks like a short read."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except ClientDisconnected:
            raise ConnectionError("client disconnected") from None


def _gw():
    return current_app.extensions["beatpass"]


def _headers(**extra) -> dict:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _tus_error(exc: UploadError) -> Response:
    return problem(
        exc.status,
        exc.message,
        [{"field": None, "code": exc.code, "message": exc.message}],
        headers=_headers(**exc.headers),
    )


def _check_version() -> Response | None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        message = "Tus-Resumable 1.0.0 is required."
        return problem(
            412,
            message,
            [{"field": None, "code": "TUS_VERSION_UNSUPPORTED", "message": message}],
            headers={"Tus-Version": TUS_VERSION, "Tus-Resumable": TUS_VERSION},
        )
    return None


def _expires(upload) -> dict:
    if upload.status != "active":
        return {}
    return {"Upload-Expires": format_datetime(upload.expires_at, usegmt=True)}


def _int_header(name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    number = ascii_whole_number(value)
    if number is None:
        raise UploadError(400, "HEADER_INVALID", f"{name} must be a whole number written with the digits 0-9.")
    return number


def _metadata(settings) -> dict[str, str]:
    header = request.headers.get("Upload-Metadata")
    if header is not None and len(header) > settings.upload_metadata_max_bytes:
        raise UploadError(
            400, "METADATA_TOO_LARGE", f"Upload-Metadata must be at most {settings.upload_metadata_max_bytes} bytes."
        )
    return parse_metadata(header)


@bp.route("/api/v1/uploads", methods=["OPTIONS"])
@bp.route("/api/v1/uploads/<upload_id>", methods=["OPTIONS"])
def options(upload_id=None):
    gw = _gw()
    return Response(
        status=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(gw.settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": "sha1,sha256",
        },
    )


@bp.post("/api/v1/uploads")
def create():
    if (bad := _check_version()) is not None:
        return bad
    gw = _gw()
    producer = current_producer(gw.settings, approved=True)
    try:
        if request.headers.get("Upload-Defer-Length"):
            raise UploadError(400, "DEFER_LENGTH_UNSUPPORTED", "Upload-Length is required.")
        concat, partial_ids = concatenation.parse_header(request.headers.get("Upload-Concat"))
        has_body = (request.content_length or 0) > 0
        if concat == "final":
            return _create_final(gw, producer, partial_ids, has_body or "Transfer-Encoding" in request.headers)
        length = _int_header("Upload-Length")
        if length is None:
            raise UploadError(400, "LENGTH_REQUIRED", "Upload-Length is required.")
        meta = _metadata(gw.settings)
        if has_body and request.content_type != OCTET:
            raise UploadError(415, "CONTENT_TYPE", f"Content-Type must be {OCTET}.")
        checksum = Checksum.parse(request.headers.get("Upload-Checksum")) if has_body else None
        upload = gw.uploads.create(producer.id, length, meta, concat)
        if has_body:
            upload = gw.uploads.append(
                producer.id, upload.id, 0, _Body(request.stream), checksum, request.content_length
            )
    except UploadError as exc:
        return _tus_error(exc)
    location = f"{gw.public_base()}/api/v1/uploads/{upload.id}"
    return Response(
        status=201, headers=_headers(Location=location, **{"Upload-Offset": str(upload.offset)}, **_expires(upload))
    )


def _create_final(gw, producer, partial_ids: list[str], has_body: bool) -> Response:
    """``Upload-Concat: final;…``: the final upload, assembled at once (its partials are complete)."""
    if request.headers.get("Upload-Length") is not None:
        raise UploadError(
            400,
            "CONCAT_LENGTH_FORBIDDEN",
            "A final upload takes its length from its partial uploads; send no Upload-Length.",
        )
    if has_body:
        raise UploadError(
            403, "FINAL_UPLOAD_READ_ONLY", "A final upload is assembled from its partial uploads; it takes no data."
        )
    upload = concatenation.concatenate(gw.uploads, producer.id, partial_ids, _metadata(gw.settings))
    location = f"{gw.public_base()}/api/v1/uploads/{upload.id}"
    return Response(status=201, headers=_headers(Location=location, **{"Upload-Offset": str(upload.offset)}))


@bp.route("/api/v1/uploads/<upload_id>", methods=["HEAD"])
def head(upload_id):
    if (bad := _check_version()) is not None:
        return bad
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    try:
        upload = gw.uploads.settled(producer.id, upload_id)
    except UploadError as exc:
        return Response(status=exc.status, headers=_headers())
    headers = _headers(**{"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)}, **_expires(upload))
    if upload.meta:
        headers["Upload-Metadata"] = encode_metadata(upload.meta)
    if upload.concat:
        headers["Upload-Concat"] = concatenation.concat_header(gw.public_base(), upload)
    if upload.concat == "final" and upload.status != "complete":
        del headers["Upload-Offset"]  # tus: none until the concatenation has finished
    return Response(status=200, headers=headers)


@bp.patch("/api/v1/uploads/<upload_id>")
def patch(upload_id):
    if (bad := _check_version()) is not None:
        return bad
    gw = _gw()
    producer = current_producer(gw.settings, approved=True)
    try:
        if request.content_type != OCTET:
            raise UploadError(415, "CONTENT_TYPE", f"Content-Type must be {OCTET}.")
        offset = _int_header("Upload-Offset")
        if offset is None:
            raise UploadError(400, "OFFSET_REQUIRED", "Upload-Offset is required.")
        checksum = Checksum.parse(request.headers.get("Upload-Checksum"))
        upload = gw.uploads.append(
            producer.id, upload_id, offset, _Body(request.stream), checksum, request.content_length
        )
    except UploadError as exc:
        return _tus_error(exc)
    return Response(status=204, headers=_headers(**{"Upload-Offset": str(upload.offset)}, **_expires(upload)))


@bp.delete("/api/v1/uploads/<upload_id>")
def terminate(upload_id):
    if (bad := _check_version()) is not None:
        return bad
    gw = _gw()
    producer = current_producer(gw.settings, approved=True)
    try:
        gw.uploads.terminate(producer.id, upload_id)
    except UploadError as exc:
        return _tus_error(exc)
    return Response(status=204, headers=_headers())
