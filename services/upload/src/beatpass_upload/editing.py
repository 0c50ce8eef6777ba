"""Changing what a producer saved: a track's metadata and a collection's title, album cover and
order (edits), and a ready track's audio or cover (a replacement: a new version).

Every rule is the save's, with its codes and sentences (``fields.check_track_fields``,
``fields.check_collection_title``, ``Saver.check_collection_cover``, ``Saver.check_track``).
The gateway's rows are the truth of what the producer gave: an edit changes them under the row's
lock, numbers itself (``Submission.edits``, ``CollectionRecord.edits``) and stages
``track.edited`` / ``collection.edited`` in the same transaction (the caller's, which also stores
the idempotent response). The catalog applies an edit only if it is newer than the one it shows;
until it has, reads show the gateway's newer values over the catalog's view (``fresh``).

Each use case (``edit_track``, ``replace_track``, ``edit_collection``) is a ``plan_*`` (checks,
reads the catalog; raises SaveRejected with the problems) and an ``apply_*`` run inside the
commit's transaction (which re-checks what may have changed), returned as a ``saves.Change``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from beatpass_common import bpm
from beatpass_common.auth import Producer
from beatpass_common.events import TrackMetadata, new_event
from beatpass_common.order import reordered

from . import reads
from .fields import (
    COLLECTION_NOT_FOUND,
    TRACK_NOT_FOUND,
    FieldError,
    _blank,
    check_collection_title,
    check_track_fields,
    messages,
)
from .models import CollectionRecord, Reservation, Submission, Upload
from .saves import Change
from .saving import CheckedTrack, SaveRejected

TRACK_FIELDS = tuple(TrackMetadata.model_fields)  # what a track's metadata holds: the event's model
COLLECTION_FIELDS = ("title", "cover_upload_id", "track_ids")
FILES = ("audio_upload_id", "cover_upload_id")


# ---- shared checks -------------------------------------------------------------------------


def _problem(gw, field: str | None, code: str) -> FieldError:
    return FieldError(field, code, messages(gw.settings)[code])


def _shape(gw, body: dict, allowed: tuple[str, ...], *, files_hint: bool = False) -> list[FieldError]:
    """One FIELD_UNKNOWN per field of ``body`` outside ``allowed``; with ``files_hint`` a track's
    upload ids answer FIELD_NOT_EDITABLE (their sentence points to a replacement)."""
    return [
        _problem(gw, name, "FIELD_NOT_EDITABLE" if files_hint and name in FILES else "FIELD_UNKNOWN")
        for name in body
        if name not in allowed
    ]


def _own(gw, model, producer_id: str, id_: str):
    """The producer's own row; another producer's id is 404 exactly like an unknown one."""
    with gw.factory() as s:
        row = s.get(model, id_)
    if row is None or row.producer_id != producer_id:
        raise SaveRejected([TRACK_NOT_FOUND if model is Submission else COLLECTION_NOT_FOUND], 404)
    return row


def _catalog_view(gw, producer_id: str, path: str) -> dict | None:
    """The catalog's view, or None while it has not recorded the record (CatalogUnavailable: 503)."""
    status, body = gw.catalog.get(producer_id, path)
    return body if status == 200 and isinstance(body, dict) else None


# ---- track metadata ------------------------------------------------------------------------


def edited_fields(current: dict, body: dict, settings) -> tuple[dict, list[str], list[FieldError]]:
    """``current`` metadata with ``body``'s fields (TRACK_FIELDS) applied under the save's rules:
    (the new metadata, the names that changed, the problems of the given fields)."""
    errors, clean = check_track_fields({**current, **body}, settings, uploads_required=False)
    errors = [e for e in errors if e.field in body]  # the stored fields passed these rules when saved
    fields = dict(current)
    for name in body:
        if name in clean:
            fields[name] = clean[name]
        else:
            fields.pop(name, None)  # an optional field cleared (null or blank)
    return fields, [n for n in TRACK_FIELDS if n in body and fields.get(n) != current.get(n)], errors


@dataclass
class TrackEdit:
    track_id: str
    body: dict
    view: dict | None  # the catalog's view before the edit; None while it has not recorded the track


def plan_track_edit(gw, producer_id: str, track_id: str, body: dict) -> TrackEdit:
    """404 TRACK_NOT_FOUND, 409 NOT_EDITABLE (replaced), 422 EDIT_EMPTY / FIELD_UNKNOWN /
    FIELD_NOT_EDITABLE / the save's field problems."""
    sub = _own(gw, Submission, producer_id, track_id)
    view = _catalog_view(gw, producer_id, f"tracks/{track_id}")
    if view is not None and view.get("status") == "replaced":
        raise SaveRejected([_problem(gw, "track", "NOT_EDITABLE")], 409)
    if not body:
        raise SaveRejected([_problem(gw, None, "EDIT_EMPTY")])
    given = {k: v for k, v in body.items() if k in TRACK_FIELDS}
    errors = _shape(gw, body, TRACK_FIELDS, files_hint=True) + edited_fields(sub.fields, given, gw.settings)[2]
    if errors:
        raise SaveRejected(errors)
    return TrackEdit(track_id, given, view)


def apply_track_edit(gw, s: Session, plan: TrackEdit) -> dict:
    """In the commit's transaction: the edit on the locked row (so concurrent edits of other
    fields are all kept), numbered, with track.edited in the outbox; an edit that changes
    nothing changes nothing. Returns the track view showing it."""
    row = s.get_one(Submission, plan.track_id, with_for_update=True)
    _no_pending_version(gw, s, row.track_id)
    fields, changed, errors = edited_fields(row.fields, plan.body, gw.settings)
    if errors:  # the same check as the plan's over the row as it is now
        raise SaveRejected(errors)
    if changed:
        row.fields, row.edits = fields, row.edits + 1
        gw.outbox.add(
            s,
            new_event(
                "track.edited",
                {"edit": row.edits, "metadata": TrackMetadata(**fields).model_dump(mode="json"), "fields": changed},
                producer_id=row.producer_id,
                track_id=row.track_id,
                collection_id=row.collection_id,
                attempt=row.attempt,
            ),
        )
    return _fresh_doc(s, row.producer_id, plan.view if plan.view is not None else reads.submitted_track(row))


def edit_track(gw, producer: Producer, track_id: str, body: dict) -> Change:
    """``PATCH /api/v1/tracks/{id}``: 200 with the track view showing the edit."""
    plan = plan_track_edit(gw, producer.id, track_id, body)
    return Change(lambda s: apply_track_edit(gw, s, plan), 200)


# ---- replacing a ready track's audio or cover ----------------------------------------------


@dataclass
class Replacement:
    checked: CheckedTrack  # the new version
    track_id: str  # the version it replaces
    edits: int  # that version's edits its metadata includes


def plan_replace(gw, producer_id: str, track_id: str, body: dict) -> Replacement:
    """A new version of the producer's ready track ``track_id``: its metadata and the file not
    given are the current version's (that audio upload stays the old track's and is held, not
    claimed). Saved like ``POST /api/v1/tracks`` with ``replaces_track_id``: its minutes are
    reserved now, the old version's come back when the new one is ready and replaces it.

    404 TRACK_NOT_FOUND, 409 NOT_REPLACEABLE, 422 FIELD_UNKNOWN / REPLACE_EMPTY / the save's
    upload problems."""
    sub = _own(gw, Submission, producer_id, track_id)
    view = _catalog_view(gw, producer_id, f"tracks/{track_id}")
    status = (view or {}).get("status", "processing")  # not recorded by the catalog yet: processing
    if status != "ready":
        message = _NOT_REPLACEABLE.get(status, _NOT_REPLACEABLE["processing"])
        raise SaveRejected([FieldError("track", "NOT_REPLACEABLE", message)], 409)
    errors = _shape(gw, body, FILES)
    # A file given as it is now (or blank) is not a new one.
    new = {k: body[k] for k in FILES if not _blank(body.get(k)) and body[k] != getattr(sub, k)}
    if not new and not errors:
        errors.append(_problem(gw, None, "REPLACE_EMPTY"))
    if errors:
        raise SaveRejected(errors)
    checked = gw.saver.check_track(
        producer_id,
        {
            **sub.fields,
            "audio_upload_id": sub.audio_upload_id,
            "cover_upload_id": sub.cover_upload_id,
            **new,
            "replaces_track_id": track_id,
        },
        kept_audio=sub.audio_upload_id,
    )
    if checked.errors:
        raise SaveRejected(checked.errors)
    return Replacement(checked, track_id, sub.edits)


def apply_replace(gw, s: Session, plan: Replacement, producer_id: str, limit_minutes: int) -> dict:
    """In the commit's transaction: the new version, unless the old one was edited since its
    metadata was read (the new version would lose that edit: 409 TRACK_EDITED, nothing kept)."""
    old = s.get_one(Submission, plan.track_id, with_for_update=True)
    _no_pending_version(gw, s, old.track_id)
    if old.edits != plan.edits:
        raise SaveRejected(
            [
                FieldError(
                    "track", "TRACK_EDITED", "This track was edited while you replaced its files. Replace them again."
                )
            ],
            409,
        )
    return gw.saver.save_track(s, producer_id, limit_minutes, plan.checked)


def replace_track(gw, producer: Producer, track_id: str, body: dict) -> Change:
    """``POST /api/v1/tracks/{id}/replace``: 202 like a save, with the new version's id."""
    plan = plan_replace(gw, producer.id, track_id, body)
    return Change(lambda s: apply_replace(gw, s, plan, producer.id, producer.upload_minutes_limit))


def _no_pending_version(gw, s: Session, track_id: str) -> None:
    """409 NEW_VERSION_PENDING while a new version of ``track_id`` is in flight (its minutes still
    held: processing or in review; one that ends ready makes ``track_id`` replaced): an edit of
    the old version would never reach the new one, and a second replacement would fork the track.
    Called with ``track_id``'s row locked, so concurrent replacements are serialised on it."""
    pending = s.scalar(
        select(Submission.track_id)
        .join(Reservation, (Reservation.track_id == Submission.track_id) & (Reservation.attempt == Submission.attempt))
        .where(Submission.replaces_track_id == track_id, Reservation.state == "held")
        .limit(1)
    )
    if pending is not None:
        raise SaveRejected([_problem(gw, "track", "NEW_VERSION_PENDING")], 409)


# NOT_REPLACEABLE's sentence by the track's status (an unknown one: processing's).
_NOT_REPLACEABLE = {
    "processing": "This track is still processing. Its audio or cover art can be replaced once it is ready.",
    "in_review": "This track is in review: a person at BeatPass is checking it. Its audio or cover art can be "
    "replaced once it is ready.",
    "rejected": "Only a ready track can be replaced. Retry this one with the new files instead.",
    "failed": "Only a ready track can be replaced. Retry this one with the new files instead.",
    "replaced": "This track was replaced by a newer version. Replace that version instead.",
}


# ---- collections ---------------------------------------------------------------------------


@dataclass
class CollectionEdit:
    collection_id: str
    title: str | None
    cover: Upload | None
    track_ids: list[str] | None
    current: list[str]  # the order the new one was checked against
    view: dict | None  # the catalog's view before the edit; None while it has not recorded it


def _current_tracks(gw, record: CollectionRecord, view: dict | None) -> tuple[list[str], dict[str, str | None]]:
    """The collection's track ids now (the catalog's, with new versions in their places; else the
    gateway's as saved) and, per id, the id of the track it replaced."""
    if view is not None:
        items = [i for i in view.get("items") or [] if isinstance(i, dict)]
        return [i["id"] for i in items], {i["id"]: i.get("replaces_track_id") for i in items}
    if record.track_ids:
        return list(record.track_ids), {}
    with gw.factory() as s:
        return list(
            s.scalars(
                select(Submission.track_id)
                .where(Submission.collection_id == record.id)
                .order_by(Submission.created_at, Submission.track_id)
            )
        ), {}


def _normalised(value) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value  # not an id: reported as unknown


def check_order(
    gw, value, current: list[str], replaced: dict[str, str | None], errors: list[FieldError]
) -> list[str] | None:
    """``value`` as a new order of exactly ``current`` (an id a new version replaced names that
    version), or None with its problems in ``errors``."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(_problem(gw, "track_ids", "TRACK_IDS_INVALID"))
        return None
    successor = {old: new for new, old in replaced.items() if old}
    wanted = [successor.get(t, t) for t in map(_normalised, value)]
    found = []
    if len(set(wanted)) != len(wanted):
        found.append("TRACK_IDS_REPEATED")
    if set(wanted) - set(current):
        found.append("TRACK_IDS_UNKNOWN")
    if set(current) - set(wanted):
        found.append("TRACK_IDS_MISSING")
    errors.extend(_problem(gw, "track_ids", code) for code in found)
    return None if found else wanted


def plan_collection_edit(gw, producer_id: str, collection_id: str, body: dict) -> CollectionEdit:
    """404 COLLECTION_NOT_FOUND; 422 EDIT_EMPTY / FIELD_UNKNOWN / the collection save's title
    and cover problems / TRACK_IDS_* for an order that is not exactly the collection's tracks."""
    record = _own(gw, CollectionRecord, producer_id, collection_id)
    if not body:
        raise SaveRejected([_problem(gw, None, "EDIT_EMPTY")])
    errors = _shape(gw, body, COLLECTION_FIELDS)
    view = _catalog_view(gw, producer_id, f"collections/{collection_id}")
    current, replaced = _current_tracks(gw, record, view)
    title = cover = order = None
    if "title" in body:
        problems, title = check_collection_title(body["title"], gw.settings)
        errors.extend(problems)
    if "cover_upload_id" in body:
        cover = gw.saver.check_collection_cover(producer_id, body["cover_upload_id"], errors)
    if "track_ids" in body:
        order = check_order(gw, body["track_ids"], current, replaced, errors)
    if errors:
        raise SaveRejected(errors)
    return CollectionEdit(collection_id, title, cover, order, current, view)


def apply_collection_edit(gw, s: Session, plan: CollectionEdit) -> dict:
    """In the commit's transaction: the parts that change, numbered with one new edit number,
    and collection.edited in the outbox (its ``attempt`` is the number: validation's verdict on
    a new cover carries it). Returns the collection view showing the edit."""
    row = s.get_one(CollectionRecord, plan.collection_id, with_for_update=True)
    parts = dict(row.edits or {})
    edit = max(parts.values(), default=0) + 1
    data: dict = {}
    if plan.title is not None and plan.title != row.title:
        row.title, parts["title"], data["title"] = plan.title, edit, plan.title
    if plan.cover is not None and plan.cover.id != row.cover_upload_id:
        gw.saver.hold(s, plan.cover, "cover")  # not terminated under us; then referenced by the row
        row.cover_upload_id, parts["cover"] = plan.cover.id, edit
        data["cover"] = gw.saver.ref(plan.cover).model_dump(mode="json")
    if plan.track_ids is not None and plan.track_ids != plan.current:
        row.track_ids, parts["order"], data["track_ids"] = plan.track_ids, edit, plan.track_ids
    if data:
        row.edits = parts
        gw.outbox.add(
            s,
            new_event(
                "collection.edited",
                {"edit": edit, **data},
                producer_id=row.producer_id,
                collection_id=row.id,
                attempt=edit,
            ),
        )
    return _fresh_doc(
        s, row.producer_id, plan.view if plan.view is not None else reads.submitted_collection_view(s, row)
    )


def edit_collection(gw, producer: Producer, collection_id: str, body: dict) -> Change:
    """``PATCH /api/v1/collections/{id}``: 200 with the collection view showing the edit."""
    plan = plan_collection_edit(gw, producer.id, collection_id, body)
    return Change(lambda s: apply_collection_edit(gw, s, plan), 200)


# ---- reads: edits the catalog has not applied yet ------------------------------------------


def _items(doc: dict) -> list[dict]:
    return [i for i in doc.get("items") or [] if isinstance(i, dict) and "steps" in i and "id" in i]


def _fresh_track(view: dict, sub: Submission | None) -> dict:
    """``view`` (in place) with ``sub``'s metadata when it holds an edit the view does not show
    yet, the BPM warning judged for it as the catalog will."""
    if sub is not None and sub.edits > (view.get("edit") or 0):
        view.update(
            title=sub.fields.get("title"),
            metadata=TrackMetadata(**sub.fields).model_dump(mode="json"),
            edit=sub.edits,
            warnings=bpm.refreshed(view.get("warnings") or [], sub.fields.get("bpm"), view.get("facts")),
        )
    return view


def _fresh_collection(view: dict, row: CollectionRecord) -> None:
    """``view`` (in place) with the parts of ``row`` edited later than the view shows."""
    edits, shown = row.edits or {}, dict(view.get("edits") or {})
    newer = {part: n for part, n in edits.items() if n > shown.get(part, 0)}
    if "title" in newer:
        view["title"] = row.title
    if "order" in newer and row.track_ids:
        items = view.get("items") or []
        ids = reordered(
            [i.get("id") for i in items], row.track_ids, {i.get("id"): i.get("replaces_track_id") for i in items}
        )
        by_id = {i.get("id"): i for i in items}
        view["items"] = [by_id[t] for t in ids]
    if "cover" in newer:
        view["cover_change"] = {"state": "checking", "errors": []}
    view["edits"] = {**shown, **newer}


def fresh(gw, producer_id: str, doc) -> None:
    """Show, in place, the producer's edits the catalog has not applied yet over a catalog
    document: a track view, a collection view, or a list of them (``{"items": [...]}``)."""
    if isinstance(doc, dict):
        with gw.factory() as s:
            _fresh_doc(s, producer_id, doc)


def _fresh_doc(s: Session, producer_id: str, doc: dict) -> dict:
    tracks = [doc] if "steps" in doc and "id" in doc else _items(doc)
    if tracks:
        subs = {
            x.track_id: x
            for x in s.scalars(
                select(Submission).where(
                    Submission.track_id.in_([t["id"] for t in tracks]), Submission.producer_id == producer_id
                )
            )
        }
        for track in tracks:
            _fresh_track(track, subs.get(track["id"]))
    if "steps" not in doc and "id" in doc and "items" in doc:  # a collection view
        record = s.get(CollectionRecord, doc["id"])
        if record is not None and record.producer_id == producer_id:
            _fresh_collection(doc, record)
    return doc
