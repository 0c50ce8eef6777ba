"""The JSON API under /api/v1: saves, retries, disputes, the producer's own reads, /me.

Reads come from the catalog; the gateway only ever asks for the authenticated producer's
records, so another producer's id answers 404 exactly like an unknown one.
"""

from __future__ import annotations

import uuid
from functools import partial

from flask import Blueprint, Response, abort, current_app, jsonify, request, stream_with_context

from beatpass_common.http import problem
from beatpass_common.storage import ObjectNotFound
from beatpass_common.tracks import STATUSES

from . import fields, idempotency, inputs, quota, reads, saves, signing, views
from .access import current_producer, reader_id
from .catalog_client import CatalogUnavailable
from .fields import (
    MISSING,
    FieldError,
)
from .saving import SAVES, SaveRejected

bp = Blueprint("api", __name__)


MEDIA_ENDPOINTS = {"api.media", "api.collection_media", "library.audio"}


@bp.url_value_preprocessor
def _check_ids(endpoint, values):
    # Track and collection ids are UUIDs; anything else is simply not found, in the route's words.
    for name, subject in (("track_id", "tracks"), ("collection_id", "collections")):
        value = (values or {}).get(name)
        if value is not None:
            try:
                values[name] = str(uuid.UUID(value))
            except ValueError:
                abort(_missing("media" if endpoint in MEDIA_ENDPOINTS else subject))


def _gw():
    return current_app.extensions["beatpass"]


def _json_body() -> dict:
    try:
        return inputs.json_object(_gw().settings)
    except inputs.BodyTooLarge as exc:
        raise SaveRejected([FieldError("body", exc.code, exc.message)], 413) from None
    except inputs.BodyInvalid as exc:
        raise SaveRejected([FieldError("body", exc.code, exc.message)], 400) from None


TITLES = {
    "track": "The track cannot be saved yet.",
    "replace": "The track cannot be saved yet.",
    "collection": "The collection cannot be saved yet.",
}


def _rejected(exc: SaveRejected, kind: str) -> Response:
    codes = {e.code for e in exc.errors}
    SAVES.labels(kind, sorted(codes)[0] if len(codes) == 1 else "INVALID_FIELDS").inc()
    title = TITLES.get(kind, "The change cannot be saved.")  # edits
    return problem(exc.status, title, [e.as_dict() for e in exc.errors])


def _saving(route: str, kind: str, use_case, present=None) -> Response:
    """Answer a route that saves: ``use_case(producer, body) -> saves.Change``, committed once per
    ``Idempotency-Key`` (saves.commit); ``present(producer, body)`` readies the body for the
    response, a replayed one too (e.g. signs its media links, which the stored answer keeps
    unsigned)."""
    gw = _gw()
    producer = current_producer(gw.settings, approved=True)
    try:
        body = _json_body()
        outcome = saves.commit(
            gw, producer, request.headers.get("Idempotency-Key"), route, body, lambda: use_case(producer, body)
        )
    except SaveRejected as exc:
        return _rejected(exc, kind)
    except idempotency.KeyConflict as exc:
        return problem(exc.status, exc.message, [{"field": None, "code": exc.code, "message": exc.message}])
    response = jsonify(present(producer, outcome.body) if present else outcome.body)
    response.status_code = outcome.status
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        SAVES.labels(kind, "accepted").inc()
    return response


@bp.post("/api/v1/tracks")
def save_track():
    return _saving("POST /api/v1/tracks", "track", partial(saves.save_track, _gw()))


@bp.post("/api/v1/collections")
def save_collection():
    return _saving("POST /api/v1/collections", "collection", partial(saves.save_collection, _gw()))


@bp.post("/api/v1/collections/<collection_id>/tracks/<track_id>/retry")
def retry_collection_item(collection_id, track_id):
    return _saving(
        f"POST /api/v1/collections/{collection_id}/tracks/{track_id}/retry",
        "track",
        lambda producer, body: saves.retry_track(_gw(), producer, body, track_id, collection_id),
    )


@bp.post("/api/v1/tracks/<track_id>/retry")
def retry_track(track_id):
    return _saving(
        f"POST /api/v1/tracks/{track_id}/retry",
        "track",
        lambda producer, body: saves.retry_track(_gw(), producer, body, track_id),
    )


def _missing(subject: str) -> Response:
    """404 TRACK_NOT_FOUND / COLLECTION_NOT_FOUND / MEDIA_NOT_FOUND (``subject`` "tracks" /
    "collections" / "media"): unknown, or another producer's, which must look the same."""
    error = MISSING[subject]
    return problem(404, error.message, [error.as_dict()])


def _relay(status: int, body, producer_id: str | None = None, subject: str = "tracks"):
    """The catalog's answer about ``subject``; with ``producer_id``, presented for that producer
    (views.present)."""
    if status == 404:
        return _missing(subject)
    if producer_id is not None and status == 200:
        views.present(_gw(), producer_id, body)
    return jsonify(body), status


@bp.get("/api/v1/tracks")
def list_tracks():
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    params, problems = reads.list_query(request.args, STATUSES)
    if problems:
        return problem(400, "The track list query is not valid.", [e.as_dict() for e in problems])
    return _relay(*gw.catalog.get(producer.id, "tracks", params), producer.id)


@bp.get("/api/v1/tracks/<track_id>")
def get_track(track_id):
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    return _relay(*reads.track_view(gw, producer.id, track_id), producer.id)


@bp.get("/api/v1/collections/<collection_id>")
def get_collection(collection_id):
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    return _relay(*reads.collection_view(gw, producer.id, collection_id), producer.id, "collections")


@bp.post("/api/v1/tracks/<track_id>/dispute")
def dispute(track_id):
    gw = _gw()
    producer = current_producer(gw.settings, approved=True)
    body = _json_body() if request.content_length or request.headers.get("Transfer-Encoding") else {}
    status, result = gw.catalog.post(producer.id, f"tracks/{track_id}/dispute", {"reason": body.get("reason")})
    if status == 404:
        return _missing("tracks")
    if status >= 400:
        return problem(status, "The dispute cannot be opened.", result.get("errors"))
    return jsonify(views.present(gw, producer.id, result)), status


@bp.get("/api/v1/tracks/<track_id>/media/<name>")
def media(track_id, name):
    return _media(f"tracks/{track_id}/media/{name}", name)


@bp.get("/api/v1/collections/<collection_id>/media/<name>")
def collection_media(collection_id, name):
    return _media(f"collections/{collection_id}/media/{name}", name)


def _media(path: str, name: str):
    gw = _gw()
    status, ref = gw.catalog.get(reader_id(gw.settings), path)
    if status != 200:
        return _missing("media")
    try:
        stream = gw.store.open(ref["bucket"], ref["key"])
    except ObjectNotFound:
        return _missing("media")
    types = {".json": "application/json", ".dat": "application/octet-stream", ".png": "image/png", ".jpg": "image/jpeg"}
    content_type = next((v for k, v in types.items() if name.endswith(k)), "application/octet-stream")

    def chunks():
        with stream:
            while data := stream.read(256 * 1024):
                yield data

    return Response(chunks(), content_type=content_type, headers={"Cache-Control": "private, max-age=300"})


def _events(subject: str, id_: str):
    gw = _gw()
    producer_id, path = reader_id(gw.settings), f"{subject}/{id_}/events"
    upstream = gw.catalog.stream(producer_id, path, request.headers.get("Last-Event-ID"))
    if upstream.status_code != 200:
        upstream.close()
        # Saved a moment ago: the submitted state now, the catalog's stream once it has the record.
        snapshot = reads.submitted_snapshot(gw.factory, producer_id, subject, id_)
        if snapshot is None:
            return _missing(subject)
        body = reads.catching_up(
            gw.catalog,
            producer_id,
            path,
            snapshot,
            poll_s=gw.settings.catalog_catchup_poll_s,
            wait_s=gw.settings.catalog_catchup_wait_s,
        )
    else:

        def relay():
            with upstream:
                yield from upstream.iter_content(chunk_size=None)

        body = relay()

    return Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/api/v1/tracks/<track_id>/events")
def track_events(track_id):
    return _events("tracks", track_id)


@bp.get("/api/v1/collections/<collection_id>/events")
def collection_events(collection_id):
    return _events("collections", collection_id)


def _ticket(subject: str, id_: str):
    """A short-lived signed URL of an event stream, for EventSource (which cannot send a header)."""
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    if not reads.owns(gw.factory, producer.id, subject, id_):
        return _missing(subject)  # only for what the producer saved: another's id is unknown here
    url = signing.sign(gw.settings, f"/api/v1/{subject}/{id_}/events", producer.id, gw.settings.events_url_ttl_s)
    return jsonify(url=url), 201


@bp.post("/api/v1/tracks/<track_id>/events/ticket")
def track_events_ticket(track_id):
    return _ticket("tracks", track_id)


@bp.post("/api/v1/collections/<collection_id>/events/ticket")
def collection_events_ticket(collection_id):
    return _ticket("collections", collection_id)


@bp.get("/api/v1/me")
def me():
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    limit = producer.upload_minutes_limit
    with gw.factory() as s:
        used_s = quota.used_seconds(s, producer.id)
    return jsonify(
        producer_id=producer.id,
        approved=producer.approved,
        upload_minutes={
            "limit": limit,
            "used": round(used_s / 60, 2),
            "remaining": round(max(0.0, limit * 60 - used_s) / 60, 2),
            # to the second as a refusal counts them (quota.exceeded_message), so the page says the same m:ss
            "remaining_s": round(max(0.0, limit * 60 - used_s), 3),
        },
    )


@bp.get("/api/v1/rules")
def rules():
    """The save rules and their sentences, so the upload page checks exactly like the API."""
    return jsonify(fields.rules(_gw().settings))


def register_errors(app) -> None:
    from .access import AccessDenied

    @app.errorhandler(AccessDenied)
    def _denied(exc: AccessDenied):
        headers = {"WWW-Authenticate": 'Bearer realm="beatpass"'} if exc.status == 401 else {}
        return problem(
            exc.status, exc.message, [{"field": None, "code": exc.code, "message": exc.message}], headers=headers
        )

    @app.errorhandler(CatalogUnavailable)
    def _catalog_down(exc):
        message = "Track status is temporarily unavailable. Your uploads are safe; try again shortly."
        return problem(
            503,
            message,
            [{"field": None, "code": "CATALOG_UNAVAILABLE", "message": message}],
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(SaveRejected)
    def _save_rejected(exc: SaveRejected):
        return _rejected(exc, "track")

    @app.errorhandler(500)
    def _server_error(exc):
        message = "Something went wrong on our side. Nothing was saved; try again."
        return problem(500, message, [{"field": None, "code": "INTERNAL_ERROR", "message": message}])
