"""The catalog's internal read API, used by the upload gateway (never exposed to the internet).

Every route is scoped by producer: a track or collection of another producer answers 404, the
same as an unknown id. Status streams (SSE, ``streams``) are woken by the event handlers, not by
polling.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request, stream_with_context
from sqlalchemy import func, select

from beatpass_common import request_ids
from beatpass_common.tracks import STATUSES

from . import streams
from .disputes import DisputeError, open_dispute
from .handlers import Deps
from .models import Collection, Track
from .streams import ChangeNotifier
from .views import collection_media_refs, collection_view, media_refs, track_view

INTERNAL_AUTH_MESSAGE = "This internal API needs the gateway's credential."
MAX_PAGE = 100_000  # bounded: OFFSET must fit
MAX_PER_PAGE = 100

bp = Blueprint("catalog_api", __name__, url_prefix="/internal/v1/producers/<producer_id>")


@dataclass(frozen=True)
class ApiContext:
    deps: Deps
    notifier: ChangeNotifier
    heartbeat_s: float
    stream_max_s: float


def create_api(
    deps: Deps, notifier: ChangeNotifier, *, heartbeat_s: float = 15.0, stream_max_s: float = 900.0
) -> Flask:
    """The internal API. Every /internal/ request must carry ``Authorization: Bearer
    <internal_api_secret>`` (the gateway's); others get 401 ``INTERNAL_AUTH_REQUIRED``."""
    app = Flask("beatpass_catalog")
    app.extensions["catalog"] = ApiContext(deps, notifier, heartbeat_s, stream_max_s)
    request_ids.install(app)  # the gateway's id, in this service's log lines too
    expected = f"Bearer {deps.settings.secret('internal_api_secret')}".encode()

    @app.before_request
    def _authenticate():
        if not request.path.startswith("/internal/"):
            return None
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if hmac.compare_digest(given, expected):
            return None
        return jsonify(
            errors=[{"field": None, "code": "INTERNAL_AUTH_REQUIRED", "message": INTERNAL_AUTH_MESSAGE}]
        ), 401

    @app.errorhandler(404)
    def _not_found(_exc):  # JSON like every other answer of this API
        return jsonify(errors=[{"field": None, "code": "NOT_FOUND", "message": "Not found."}]), 404

    app.register_blueprint(bp)
    return app


def _ctx() -> ApiContext:
    return current_app.extensions["catalog"]


def _own(session, model, producer_id: str, id_: str):
    row = session.get(model, id_)
    if row is None or row.producer_id != producer_id:
        abort(404)
    return row


def _paging() -> tuple[int, int]:
    page = min(MAX_PAGE, max(1, request.args.get("page", 1, type=int)))
    per_page = min(MAX_PER_PAGE, max(1, request.args.get("per_page", 20, type=int)))
    return page, per_page


@bp.get("/tracks")
def list_tracks(producer_id):
    status = request.args.get("status")
    if status and status not in STATUSES:
        return jsonify(
            errors=[
                {
                    "field": "status",
                    "code": "QUERY_INVALID",
                    "message": f"status must be one of {', '.join(sorted(STATUSES))}.",
                }
            ]
        ), 400
    page, per_page = _paging()
    with _ctx().deps.factory() as s:
        query = select(Track).where(Track.producer_id == producer_id, Track.submitted.is_(True))
        if status:
            query = query.where(Track.status == status)
        if request.args.get("single") == "true":  # saved on their own, not in a collection
            query = query.where(Track.collection_id.is_(None))
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(
            query.order_by(Track.created_at.desc(), Track.id).offset((page - 1) * per_page).limit(per_page)
        ).all()
        return jsonify(items=[track_view(t) for t in rows], page=page, per_page=per_page, total=total)


@bp.get("/collections")
def list_collections(producer_id):
    """The producer's collections, newest first, each with its items (as GET of one)."""
    page, per_page = _paging()
    with _ctx().deps.factory() as s:
        query = select(Collection).where(Collection.producer_id == producer_id)
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(
            query.order_by(Collection.created_at.desc(), Collection.id).offset((page - 1) * per_page).limit(per_page)
        ).all()
        wanted = {t for c in rows for t in c.track_ids}
        tracks = s.scalars(select(Track).where(Track.id.in_(wanted))).all() if wanted else []
        return jsonify(items=[collection_view(c, tracks) for c in rows], page=page, per_page=per_page, total=total)


@bp.get("/tracks/<track_id>")
def get_track(producer_id, track_id):
    with _ctx().deps.factory() as s:
        return jsonify(track_view(_own(s, Track, producer_id, track_id)))


@bp.get("/collections/<collection_id>")
def get_collection(producer_id, collection_id):
    with _ctx().deps.factory() as s:
        collection = _own(s, Collection, producer_id, collection_id)
        tracks = s.scalars(select(Track).where(Track.id.in_(collection.track_ids))).all()
        return jsonify(collection_view(collection, tracks))


def _media_ref(model, refs_of, producer_id: str, id_: str, name: str):
    with _ctx().deps.factory() as s:
        ref = refs_of(_own(s, model, producer_id, id_)).get(name)
    if ref is None:
        abort(404)
    return jsonify(ref)


@bp.get("/tracks/<track_id>/media/<name>")
def get_media_ref(producer_id, track_id, name):
    return _media_ref(Track, media_refs, producer_id, track_id, name)


@bp.get("/collections/<collection_id>/media/<name>")
def get_collection_media_ref(producer_id, collection_id, name):
    return _media_ref(Collection, collection_media_refs, producer_id, collection_id, name)


@bp.post("/tracks/<track_id>/dispute")
def dispute(producer_id, track_id):
    deps = _ctx().deps
    reason = (request.get_json(silent=True) or {}).get("reason")
    try:
        with deps.factory() as s, s.begin():
            track = _own(s, Track, producer_id, track_id)
            open_dispute(s, deps, track, reason)
            view = track_view(track)
    except DisputeError as exc:
        return jsonify(errors=[{"field": exc.field, "code": exc.code, "message": exc.message}]), exc.status
    deps.on_change()
    return jsonify(view), 202


def _stream(producer_id: str, subjects: streams.Subjects, snapshot) -> Response:
    ctx = _ctx()
    body = streams.events(
        ctx.deps.factory,
        ctx.notifier,
        producer_id,
        subjects,
        snapshot,
        request.headers.get("Last-Event-ID", type=int),
        heartbeat_s=ctx.heartbeat_s,
        stream_max_s=ctx.stream_max_s,
    )
    return Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/tracks/<track_id>/events")
def track_events(producer_id, track_id):
    factory = _ctx().deps.factory
    with factory() as s:
        _own(s, Track, producer_id, track_id)

    def snapshot():
        with factory() as s:
            track = s.get(Track, track_id)
            return (
                {
                    "track_id": track.id,
                    "status": track.status,
                    "version": track.version,
                    "steps": {st.name: st.state for st in track.steps},
                    "collection_id": track.collection_id,
                },
                streams.latest_seq(s, [track_id]),
            )

    return _stream(producer_id, lambda: {("track", track_id)}, snapshot)


@bp.get("/collections/<collection_id>/events")
def collection_events(producer_id, collection_id):
    factory = _ctx().deps.factory
    with factory() as s:
        _own(s, Collection, producer_id, collection_id)

    def subjects():
        # The collection's own changes and its items' (a retried item's steps show live too).
        with factory() as s:
            c = s.get(Collection, collection_id)
            return {("collection", collection_id)} | {("track", t) for t in c.track_ids}

    def snapshot():
        with factory() as s:
            c = s.get(Collection, collection_id)
            return (
                {"collection_id": c.id, "status": c.status, "version": c.version},
                streams.latest_seq(s, [collection_id, *c.track_ids]),
            )

    return _stream(producer_id, subjects, snapshot)
