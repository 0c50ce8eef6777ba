"""The JSON API under /api/v1: saves, retries, disputes, the producer's own reads, /me.

Reads come from the catalog; the gateway only ever asks for the authenticated producer's
records, so another producer's id answers 404 exactly like an unknown one.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, stream_with_context


from beatpass_common import disputes
from beatpass_common.db import transaction
from beatpass_common.http import problem
from beatpass_common.storage import ObjectNotFound
from beatpass_common.tracks import STATUSES

from . import editing, idempotency, inputs, quota, reads, signing
from .access import current_producer, minutes_limit, reader_id
from .catalog_client import CatalogUnavailable
from .fields import (ARTISTS_MAX, GENRES_MAX, KEYS, LICENSING, MISSING, SCALES, TAGS_MAX, TITLE_MAX,
                     TRACK_NOT_FOUND, FieldError, messages)
from .models import Submission
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


TITLES = {"track": "The track cannot be saved yet.", "replace": "The track cannot be saved yet.",
          "collection": "The collection cannot be saved yet."}


def _rejected(exc: SaveRejected, kind: str) -> Response:
    codes = {e.code for e in exc.errors}
    SAVES.labels(kind, sorted(codes)[0] if len(codes) == 1 else "INVALID_FIELDS").inc()
    title = TITLES.get(kind, "The change cannot be saved.")  # edits
    return problem(exc.status, title, [e.as_dict() for e in exc.errors])


def _idempotent(route: str, kind: str, work, present=None):
    """Run ``work(producer, body) -> (status, body)`` once per Idempotency-Key (when given);
    ``present(producer, body)`` readies the body for the response, a replayed one too (e.g. signs
    its media links, which the stored response keeps unsigned)."""
    gw = _gw()
    producer = current_producer(gw.settings, approved=True)
    try:
        body = _json_body()
    except SaveRejected as exc:
        return _rejected(exc, kind)
    key = request.headers.get("Idempotency-Key")
    claim = None
    if key is not None:
        try:
            claim = idempotency.begin(gw.factory, producer.id, key, route, idempotency.request_hash(route, body),
                                      gw.settings.lease_s)
        except idempotency.KeyConflict as exc:
            return _key_conflict(exc)
        if isinstance(claim, idempotency.Replay):
            response = jsonify(present(producer, claim.body) if present else claim.body)
            response.status_code = claim.status
            response.headers["Idempotent-Replayed"] = "true"
            return response
    g.idempotency_claim = claim  # _commit stores the response under it
    try:
        with idempotency.held(gw.factory, claim, gw.settings.lease_s):
            status, result = work(producer, body)
    except BaseException as exc:
        # Only a save that happened is remembered: after a refusal (fields, minutes) or a fault,
        # the same key may try again once the producer has fixed things.
        if claim is not None:
            idempotency.abandon(gw.factory, claim)
        if isinstance(exc, SaveRejected):
            return _rejected(exc, kind)
        if isinstance(exc, idempotency.KeyConflict):  # we stalled past our lease: a retry took over
            return _key_conflict(exc)
        raise
    gw.outbox.notify()
    SAVES.labels(kind, "accepted").inc()
    return jsonify(present(producer, result) if present else result), status


def _key_conflict(exc: idempotency.KeyConflict) -> Response:
    return problem(exc.status, exc.message, [{"field": None, "code": exc.code, "message": exc.message}])


def _commit(stage, status: int = 202):
    """Run ``stage(session)`` and store the idempotent response in the same transaction."""
    gw = _gw()
    claim = g.idempotency_claim
    with transaction(gw.factory) as s:
        result = stage(s)
        if claim is not None:
            idempotency.finish(s, claim, status, result)
    return status, result


@bp.post("/api/v1/tracks")
def save_track():
    gw = _gw()

    def work(producer, body):
        checked = gw.saver.check_track(producer.id, body)
        if body.get("replaces_track_id") is not None:
            checked.errors.extend(_replaceable(producer, body["replaces_track_id"]))
        if checked.errors:
            raise SaveRejected(checked.errors)
        limit = minutes_limit(producer, gw.settings)
        return _commit(lambda s: gw.saver.save_track(s, producer.id, limit, checked))

    return _idempotent("POST /api/v1/tracks", "track", work)


def _replaceable(producer, track_id) -> list[FieldError]:
    """A new version may replace only one of the producer's own ready tracks."""
    if not isinstance(track_id, str):
        return [FieldError("replaces_track_id", "REPLACES_TRACK_ID_INVALID",
                           messages(_gw().settings)["REPLACES_TRACK_ID_INVALID"])]
    try:
        track_id = str(uuid.UUID(track_id))
        status, track = _gw().catalog.get(producer.id, f"tracks/{track_id}")
    except ValueError:
        status, track = 404, None
    if status == 200 and track and track["status"] == "ready":
        return []
    return [FieldError("replaces_track_id", "REPLACED_TRACK_NOT_FOUND",
                       "The track to replace was not found among your ready tracks.")]


@bp.post("/api/v1/collections")
def save_collection():
    gw = _gw()

    def work(producer, body):
        errors, checked, cover = gw.saver.check_collection(producer.id, body)
        if errors:
            raise SaveRejected(errors)
        limit = minutes_limit(producer, gw.settings)
        return _commit(lambda s: gw.saver.save_collection(s, producer.id, limit, body, checked, cover))

    return _idempotent("POST /api/v1/collections", "collection", work)


def _retry(producer, body, track_id: str, collection_id: str | None):
    """Re-submit the track's latest submission ``n`` as ``n + 1``, once.

    The gateway's own submission row is the base (a track it never saved is 404). The catalog must
    report the track rejected or failed for that very submission: a view of an earlier one (it has
    not recorded ``n`` yet) means ``n`` is still processing. The commit then moves the row from
    ``n`` to ``n + 1`` only if it still holds ``n`` (saving.Saver.advance), so of concurrent or
    repeated retries of ``n`` exactly one is accepted and the others are 409 NOT_RETRYABLE, before
    they reserve minutes or claim an upload.
    """
    gw = _gw()
    with gw.factory() as s:
        base = s.get(Submission, track_id)
    if base is None or base.producer_id != producer.id:
        raise SaveRejected([TRACK_NOT_FOUND], 404)
    status, track = gw.catalog.get(producer.id, f"tracks/{track_id}")
    track = track if status == 200 and isinstance(track, dict) else None
    if collection_id is not None and collection_id not in {base.collection_id, (track or {}).get("collection_id")}:
        raise SaveRejected([TRACK_NOT_FOUND], 404)
    if track is None or track.get("submission") != base.attempt or track.get("status") == "processing":
        raise SaveRejected([STILL_PROCESSING], 409)
    if track["status"] not in {"rejected", "failed"}:
        raise SaveRejected([FieldError("track", "NOT_RETRYABLE",
                                       "Only a rejected or failed item can be retried.")], 409)
    checked = gw.saver.check_track(producer.id, body, track_id=track_id, base=base)
    checked.attempt = base.attempt + 1
    if body.get("replaces_track_id") is not None:
        checked.errors.extend(_replaceable(producer, body["replaces_track_id"]))
    if checked.errors:
        raise SaveRejected(checked.errors)
    limit = minutes_limit(producer, gw.settings)

    def stage(s):
        if not gw.saver.advance(s, track_id, base.attempt):
            raise SaveRejected([STILL_PROCESSING], 409)  # another retry of ``n`` got there first
        return gw.saver.save_track(s, producer.id, limit, checked, base.collection_id)

    return _commit(stage)


STILL_PROCESSING = FieldError("track", "NOT_RETRYABLE",
                              "This track is still processing. It can be retried once it is rejected or failed.")


@bp.post("/api/v1/collections/<collection_id>/tracks/<track_id>/retry")
def retry_collection_item(collection_id, track_id):
    return _idempotent(f"POST /api/v1/collections/{collection_id}/tracks/{track_id}/retry", "track",
                       lambda producer, body: _retry(producer, body, track_id, collection_id))


@bp.post("/api/v1/tracks/<track_id>/retry")
def retry_track(track_id):
    return _idempotent(f"POST /api/v1/tracks/{track_id}/retry", "track",
                       lambda producer, body: _retry(producer, body, track_id, None))


def _missing(subject: str) -> Response:
    """404 TRACK_NOT_FOUND / COLLECTION_NOT_FOUND / MEDIA_NOT_FOUND (``subject`` "tracks" /
    "collections" / "media"): unknown, or another producer's, which must look the same."""
    error = MISSING[subject]
    return problem(404, error.message, [error.as_dict()])


def _relay(status: int, body, producer_id: str | None = None, subject: str = "tracks"):
    """The catalog's answer about ``subject``; with ``producer_id``, its media links signed for
    that producer."""
    if status == 404:
        return _missing(subject)
    if producer_id is not None and status == 200:
        editing.fresh(_gw(), producer_id, body)  # edits the catalog has not applied yet
        _sign_links(body, producer_id, _gw().settings)
        reads.add_audio(body, producer_id, _gw())
    return jsonify(body), status


def _sign_links(doc, producer_id: str, settings) -> None:
    """Sign, in place, the media links of a track/collection view or a list of them (``cover``,
    ``waveform``, ``items``), so an ``<img>`` opens them without a bearer token."""
    if isinstance(doc, list):
        for item in doc:
            _sign_links(item, producer_id, settings)
        return
    if not isinstance(doc, dict):
        return
    for field in ("cover", "waveform"):
        links = doc.get(field)
        for name, link in (links or {}).items():
            if isinstance(link, str) and link.startswith("/api/v1/"):
                links[name] = signing.sign(settings, link, producer_id, settings.media_url_ttl_s)
    _sign_links(doc.get("items"), producer_id, settings)


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
    status, body = gw.catalog.get(producer.id, f"tracks/{track_id}")
    if status == 404:
        # Saved a moment ago, not yet recorded by the catalog: it is processing, not missing.
        with gw.factory() as s:
            submission = s.get(Submission, track_id)
        if submission is not None and submission.producer_id == producer.id:
            return _relay(200, reads.submitted_track(submission), producer.id)
    return _relay(status, body, producer.id)


@bp.get("/api/v1/collections/<collection_id>")
def get_collection(collection_id):
    gw = _gw()
    producer = current_producer(gw.settings, approved=False)
    status, body = gw.catalog.get(producer.id, f"collections/{collection_id}")
    if status == 404:  # saved a moment ago: processing, not missing (as a track is)
        body = reads.submitted_collection(gw.factory, producer.id, collection_id)
        status = 200 if body is not None else 404
    return _relay(status, body, producer.id, "collections")


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
    return jsonify(result), status


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
    types = {".json": "application/json", ".dat": "application/octet-stream", ".png": "image/png",
             ".jpg": "image/jpeg"}
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
        body = reads.catching_up(gw.catalog, producer_id, path, snapshot, poll_s=gw.settings.catalog_catchup_poll_s,
                                 wait_s=gw.settings.catalog_catchup_wait_s)
    else:
        def relay():
            with upstream:
                yield from upstream.iter_content(chunk_size=None)
        body = relay()

    return Response(stream_with_context(body), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


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
    if reads.submitted_snapshot(gw.factory, producer.id, subject, id_) is None:
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
    limit = minutes_limit(producer, gw.settings)
    with gw.factory() as s:
        used_s = quota.used_seconds(s, producer.id)
    return jsonify(producer_id=producer.id, approved=producer.approved, upload_minutes={
        "limit": limit, "used": round(used_s / 60, 2), "remaining": round(max(0.0, limit * 60 - used_s) / 60, 2)})


@bp.get("/api/v1/rules")
def rules():
    """The save rules and their sentences, so the upload page checks exactly like the API."""
    gw = _gw()
    s = gw.settings
    return jsonify(messages=messages(s), keys=KEYS, scales=SCALES, licensing=LICENSING, bpm={"min": s.bpm_min,
                   "max": s.bpm_max}, title_max=TITLE_MAX, artists_max=ARTISTS_MAX, genres_max=GENRES_MAX,
                   tags_max=TAGS_MAX, max_upload_bytes=s.max_upload_bytes, step_slow_after_s=s.step_slow_after_s,
                   dispute_reason={"min": disputes.REASON_MIN, "max": disputes.REASON_MAX})


def register_errors(app) -> None:
    from .access import AccessDenied

    @app.errorhandler(AccessDenied)
    def _denied(exc: AccessDenied):
        headers = {"WWW-Authenticate": 'Bearer realm="beatpass"'} if exc.status == 401 else {}
        return problem(exc.status, exc.message, [{"field": None, "code": exc.code, "message": exc.message}],
                       headers=headers)

    @app.errorhandler(CatalogUnavailable)
    def _catalog_down(exc):
        message = "Track status is temporarily unavailable. Your uploads are safe; try again shortly."
        return problem(503, message, [{"field": None, "code": "CATALOG_UNAVAILABLE", "message": message}],
                       headers={"Retry-After": "5"})

    @app.errorhandler(SaveRejected)
    def _save_rejected(exc: SaveRejected):
        return _rejected(exc, "track")

    @app.errorhandler(500)
    def _server_error(exc):
        message = "Something went wrong on our side. Nothing was saved; try again."
        return problem(500, message, [{"field": None, "code": "INTERNAL_ERROR", "message": message}])
