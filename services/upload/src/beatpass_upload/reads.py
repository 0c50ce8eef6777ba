"""What the gateway adds to the catalog's reads: list queries, the tracks' own audio uploads, and
the submitted state of what it accepted but the catalog has not recorded yet (read-after-write).

A 202 names a track or collection; from that moment its reads and event streams answer, with the
gateway's submitted view (status ``processing``, steps pending) until the catalog has the record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from sqlalchemy import select

from beatpass_common.tracks import STEPS, TrackView

from .catalog_client import CatalogUnavailable
from .fields import FieldError
from .inputs import ascii_whole_number
from .models import CollectionRecord, Submission, Upload

MAX_PAGE = 100_000
BOOLEANS = {"true": True, "false": False}


def list_query(args, statuses: tuple[str, ...] | None = None) -> tuple[dict, list[FieldError]]:
    """The catalog query of a list request (``page``, ``per_page``, and ``status`` and ``single``
    for tracks when ``statuses`` is given) and one FieldError (400 QUERY_INVALID) per bad value."""
    names = ("page", "per_page") + (("status", "single") if statuses is not None else ())
    params = {k: args[k] for k in names if k in args}
    # ?status=ready&status=rejected would silently mean the first: each is given once or not at all.
    problems = [
        FieldError(name, "QUERY_INVALID", f"{name} must be given once.")
        for name in names
        if len(args.getlist(name)) > 1
    ]
    problems += [
        FieldError(name, "QUERY_INVALID", f"{name} must be a whole number from 1 to {top}.")
        for name, top in (("page", MAX_PAGE), ("per_page", 100))
        if name in params and not 1 <= (ascii_whole_number(params[name]) or 0) <= top
    ]
    if statuses is not None and params.get("status") not in (None, *statuses):
        problems.append(FieldError("status", "QUERY_INVALID", f"status must be one of {', '.join(statuses)}."))
    if "single" in params and params["single"] not in BOOLEANS:
        problems.append(FieldError("single", "QUERY_INVALID", "single must be true or false."))
    return params, problems


# ---- the audio link of track views -------------------------------------------------------------


def audio_path(track_id: str) -> str:
    return f"/api/v1/tracks/{track_id}/media/audio"


def track_views(doc) -> Iterator[dict]:
    """Track views in a track view, a collection view, or a list of either (``items``)."""
    if not isinstance(doc, dict):
        return
    if "steps" in doc or "items" not in doc:
        if "id" in doc:
            yield doc
        return
    for item in doc["items"] if isinstance(doc["items"], list) else ():
        if isinstance(item, dict) and "items" in item:
            yield from track_views(item)
        elif isinstance(item, dict) and "id" in item:
            yield item


def track_audio(factory, producer_id: str, track_ids: list[str]) -> dict[str, Upload]:
    """The complete audio upload of each of the producer's tracks (the latest submission's)."""
    if not track_ids:
        return {}
    with factory() as s:
        rows = s.execute(
            select(Submission.track_id, Upload)
            .join(Upload, Upload.id == Submission.audio_upload_id)
            .where(
                Submission.track_id.in_(track_ids),
                Submission.producer_id == producer_id,
                Upload.producer_id == producer_id,
                Upload.status == "complete",
            )
        ).all()
    return dict(rows)


# ---- submitted state, until the catalog has the record -------------------------------------------


def own_submission(factory, producer_id: str, track_id: str) -> Submission | None:
    with factory() as s:
        submission = s.get(Submission, track_id)
    return submission if submission is not None and submission.producer_id == producer_id else None


def submitted_track(sub: Submission) -> dict:
    """The track view of a submission the catalog has not recorded yet: ``processing``, steps pending
    (``edit`` 0: editing.fresh shows the submission's edits as it does over the catalog's view)."""
    return TrackView(
        id=sub.track_id,
        status="processing",
        collection_id=sub.collection_id,
        title=sub.fields.get("title"),
        metadata=sub.fields,
        submission=sub.attempt,
        replaces_track_id=sub.replaces_track_id,
        created_at=sub.created_at,
        updated_at=sub.created_at,
    ).document()


def submitted_collection_view(s, record: CollectionRecord) -> dict:
    """The collection view of a collection the catalog has not recorded yet, items in their order."""
    submissions = s.scalars(
        select(Submission)
        .where(Submission.collection_id == record.id)
        .order_by(Submission.created_at, Submission.track_id)
    ).all()
    order = {track_id: i for i, track_id in enumerate(record.track_ids or [])}
    submissions = sorted(submissions, key=lambda sub: order.get(sub.track_id, len(order)))
    created = record.created_at.isoformat()
    return {
        "id": record.id,
        "title": record.title,
        "status": "processing",
        "errors": [],
        "cover": {},
        "cover_change": None,
        "edits": {},
        "version": 0,
        "items": [submitted_track(sub) for sub in submissions],
        "created_at": created,
        "updated_at": created,
    }


def submitted_collection(factory, producer_id: str, collection_id: str) -> dict | None:
    """The collection as the gateway accepted it, or None when the producer never saved it."""
    with factory() as s:
        record = s.get(CollectionRecord, collection_id)
        if record is None or record.producer_id != producer_id:
            return None
        return submitted_collection_view(s, record)


def track_view(gw, producer_id: str, track_id: str) -> tuple[int, dict | None]:
    """The catalog's answer for the producer's track; for one saved a moment ago that the catalog
    has not recorded yet, its submitted state (200, processing: not missing)."""
    status, body = gw.catalog.get(producer_id, f"tracks/{track_id}")
    if status == 404 and (submission := own_submission(gw.factory, producer_id, track_id)) is not None:
        return 200, submitted_track(submission)
    return status, body


def collection_view(gw, producer_id: str, collection_id: str) -> tuple[int, dict | None]:
    """As ``track_view``, for a collection."""
    status, body = gw.catalog.get(producer_id, f"collections/{collection_id}")
    if status == 404 and (body := submitted_collection(gw.factory, producer_id, collection_id)) is not None:
        return 200, body
    return status, body


def owns(factory, producer_id: str, subject: str, id_: str) -> bool:
    """Whether the producer saved the track or collection (``subject`` "tracks" / "collections")."""
    return submitted_snapshot(factory, producer_id, subject, id_) is not None


def submitted_snapshot(factory, producer_id: str, subject: str, id_: str) -> dict | None:
    """The first ``status`` event of a stream the catalog cannot serve yet (the shape of the
    catalog's own snapshot), or None when the producer never saved ``id_``."""
    if subject == "tracks":
        submission = own_submission(factory, producer_id, id_)
        if submission is None:
            return None
        return {
            "track_id": id_,
            "status": "processing",
            "version": 0,
            "steps": dict.fromkeys(STEPS, "pending"),
            "collection_id": submission.collection_id,
        }
    with factory() as s:
        record = s.get(CollectionRecord, id_)
    if record is None or record.producer_id != producer_id:
        return None
    return {"collection_id": id_, "status": "processing", "version": 0}


def catching_up(
    catalog, producer_id: str, path: str, snapshot: dict, *, poll_s: float, wait_s: float
) -> Iterator[bytes]:
    """An event stream for what the catalog has not recorded yet: the submitted ``snapshot`` as
    an ``event: status`` (without an id, so a reconnect starts afresh), then the catalog's own
    stream once it has the record. Asks every ``poll_s`` for at most ``wait_s``, then ends (the
    client reconnects); a comment each round finds a client that went away."""
    yield f"event: status\ndata: {json.dumps(snapshot)}\n\n".encode()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            upstream = catalog.stream(producer_id, path, None)
        except CatalogUnavailable:
            upstream = None
        if upstream is not None and upstream.status_code == 200:
            with upstream:
                yield from upstream.iter_content(chunk_size=None)
            return
        if upstream is not None:
            upstream.close()
        yield b": waiting for the catalog\n\n"
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
