"""Event handlers: each applies one event to the records in one transaction, exactly once.

The event id is recorded with the change, so a redelivered event is a no-op; events the catalog
publishes go through the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from beatpass_common.config import Settings
from beatpass_common.events import Event
from beatpass_common.order import reordered
from beatpass_common.outbox import Outbox
from beatpass_common.tracks import STEPS, UNSETTLED

from .models import Collection, ProcessedEvent, Track
from .records import Records, now


@dataclass
class Deps:
    factory: sessionmaker[Session]
    outbox: Outbox
    settings: Settings
    on_change: Callable[[], None] = field(default=lambda: None)  # wakes SSE streams
    # consumers(queue) -> how many workers consume it now, None when unknown (the reaper's look)
    consumers: Callable[[str], int | None] = field(default=lambda queue: None)


def _apply(event: Event, deps: Deps, apply: Callable[[Records, Event], None]) -> None:
    try:
        with deps.factory() as session, session.begin():
            if session.get(ProcessedEvent, event.id) is not None:
                return
            session.add(ProcessedEvent(event_id=event.id, processed_at=now()))
            records = Records(session, deps.outbox, deps.settings)
            apply(records, event)
            records.refresh_collections()
    except IntegrityError:
        # A concurrent delivery of the same event won the race and applied it.
        with deps.factory() as session:
            if session.get(ProcessedEvent, event.id) is None:
                raise
        return
    deps.outbox.notify()
    deps.on_change()


def _track_submitted(r: Records, event: Event) -> None:
    track = r.track(event)
    if r.stale(track, event) or (track.submitted and event.attempt == track.submission):
        return  # an earlier submission, or this one redelivered under another id
    r.submit(track, event)


def _collection_submitted(r: Records, event: Event) -> None:
    data = event.payload()
    if r.s.get(Collection, event.collection_id) is not None:
        return
    t = now()
    collection = Collection(
        id=event.collection_id,
        producer_id=event.producer_id,
        title=data.title,
        cover={"upload": data.cover.model_dump(mode="json")},
        track_ids=list(data.track_ids),
        errors=[],
        status="processing",
        version=0,
        created_at=t,
        updated_at=t,
    )
    r.s.add(collection)
    r.s.flush()
    r.aggregate(collection)


class CollectionNotYetKnown(Exception):
    """Its result came before the collection itself: retried by the bus until it is recorded."""


def _collection(r: Records, event: Event) -> Collection:
    collection = r.s.get(Collection, event.collection_id, with_for_update=True)
    if collection is None:
        raise CollectionNotYetKnown(event.collection_id)
    return collection


def _cover_verdict(collection: Collection, event: Event) -> bool:
    """Whether this verdict is on the newest cover asked for (its edit, or 0 for the saved one);
    it then records that edit as applied (a verdict may arrive before its collection.edited)."""
    edits = dict(collection.edits or {})
    if event.attempt < edits.get("cover", 0):
        return False  # on an older cover than the latest one the producer gave
    edits["cover"] = event.attempt
    collection.edits = edits
    return True


def _collection_validated(r: Records, event: Event) -> None:
    collection = _collection(r, event)
    if not _cover_verdict(collection, event):
        return
    data = event.payload()
    cover = dict(collection.cover or {})
    pending = cover.pop("pending", None)
    if pending and pending.get("revision") == event.attempt:
        cover["upload"] = pending["upload"]
    collection.cover = {
        **cover,
        "facts": data.cover.model_dump(mode="json"),
        "revision": event.attempt,
        "images": {k: v.model_dump(mode="json") for k, v in data.cover_images.items()},
    }
    collection.errors = []  # the album art in force has no problems
    collection.cover_change = None
    if event.attempt:
        r.collection_changed(collection, edited=["cover"])
    else:
        collection.version += 1
    r.aggregate(collection)


def _collection_rejected(r: Records, event: Event) -> None:
    collection = _collection(r, event)
    if not _cover_verdict(collection, event):
        return
    errors = [e.model_dump(mode="json") for e in event.payload().errors]
    if event.attempt == 0 or not (collection.cover or {}).get("images"):
        collection.errors = errors  # no album art in force: these are the collection's problems
    if event.attempt:
        # A changed cover was refused: the one in force (if any) stays, the refusal is shown.
        collection.cover = {k: v for k, v in (collection.cover or {}).items() if k != "pending"}
        collection.cover_change = {"state": "rejected", "errors": errors}
        r.collection_changed(collection, edited=["cover"])
    r.aggregate(collection)


def _collection_edited(r: Records, event: Event) -> None:
    """Each part (title, order, cover) takes the edit only if it is newer than the last one it
    took, so a late or repeated edit never undoes a newer one. A new cover waits for
    validation's verdict (carrying this edit as ``attempt``) before it is shown."""
    collection = _collection(r, event)
    data = event.payload()
    edits, changed = dict(collection.edits or {}), []
    if data.title is not None and data.edit > edits.get("title", 0):
        collection.title, edits["title"] = data.title, data.edit
        changed.append("title")
    if data.track_ids is not None and data.edit > edits.get("order", 0):
        replaced = dict(
            r.s.execute(select(Track.id, Track.replaces_track_id).where(Track.id.in_(collection.track_ids))).all()
        )
        collection.track_ids, edits["order"] = reordered(collection.track_ids, data.track_ids, replaced), data.edit
        changed.append("track_ids")
    if data.cover is not None and data.edit > edits.get("cover", 0):
        edits["cover"] = data.edit
        collection.cover = {
            **(collection.cover or {}),
            "pending": {"upload": data.cover.model_dump(mode="json"), "revision": data.edit},
        }
        collection.cover_change = {"state": "checking", "errors": []}
        changed.append("cover")
    if changed:
        collection.edits = edits
        r.collection_changed(collection, edited=changed)


def _track_validated(r: Records, event: Event) -> None:
    track = r.track(event)
    if r.stale(track, event):
        return
    data = event.payload()
    track.facts = data.audio.model_dump(mode="json")
    track.cover = {
        **(track.cover or {}),
        "facts": data.cover.model_dump(mode="json"),
        "images": {k: v.model_dump(mode="json") for k, v in data.cover_images.items()},
    }
    track.warnings = [w.model_dump(mode="json") for w in data.warnings]
    track.validated_event = event.model_dump_json()
    r.refresh_bpm_warning(track)  # against the BPM as it is now (the producer may have edited it)
    r.finish_step(track, "validation")
    if track.status in UNSETTLED:
        r.queue_step(track, "waveform")
        r.queue_step(track, "fingerprint")
    r.settle(track, event)


def _track_edited(r: Records, event: Event) -> None:
    """The producer's edit: applied only if newer than the last one the track took (the event
    carries the whole metadata, so the newest edit wins whatever the arrival order)."""
    data = event.payload()
    track = r.track(event)
    if data.edit <= track.edit_seq:
        return
    r.edit(track, data.edit, data.metadata, list(data.fields), event)


def _track_rejected(r: Records, event: Event) -> None:
    track = r.track(event)
    if r.stale(track, event) or track.status == "rejected":
        return
    data = event.payload()
    if data.step in (None, "validation"):
        r.finish_step(track, "validation")
    r.reject(track, [e.model_dump(mode="json") for e in data.errors], publish=False, cause=event)
    r.settle(track, event)


def _waveform_generated(r: Records, event: Event) -> None:
    track = r.track(event)
    if r.stale(track, event):
        return
    data = event.payload()
    track.waveform = data.model_dump(mode="json", by_alias=True)
    r.finish_step(track, "waveform")
    r.settle(track, event)


def _fingerprint_completed(r: Records, event: Event) -> None:
    track = r.track(event)
    if r.stale(track, event):
        return
    data = event.payload()
    r.finish_step(track, "fingerprint")
    dup = data.duplicate
    if dup is None or track.status not in {"processing"}:
        track.duplicate = dup.model_dump(mode="json") if dup else None
        r.settle(track, event)
        return
    matched = r.s.get(Track, dup.track_id)
    own = matched is not None and matched.producer_id == track.producer_id
    title = matched.title if matched is not None and own else None
    track.duplicate = {**dup.model_dump(mode="json"), "title": title, "own": own}
    if dup.decision == "review":
        track.status = "in_review"
    else:
        r.reject(track, [duplicate_problem(title)], publish=True, cause=event)
    r.settle(track, event)


def duplicate_problem(own_title: str | None) -> dict:
    if own_title:
        message = (
            f"This audio matches your track “{own_title}”. If this is a new version, "
            "replace the audio on that track instead."
        )
    else:
        message = "This audio matches a track already on BeatPass. If you believe this is a mistake, open a dispute."
    return {"code": "DUPLICATE_AUDIO", "field": "audio", "message": message}


def _step_started(r: Records, event: Event) -> None:
    step = event.payload().step
    if event.track_id is None or step not in STEPS:
        return
    track = r.track(event)
    if r.stale(track, event):
        return
    r.start_step(track, step, event.occurred_at)
    r.settle(track, event)


def _step_failed(r: Records, event: Event) -> None:
    data = event.payload()
    if event.track_id is None:
        return
    track = r.track(event)
    if r.stale(track, event):
        return
    step = data.step if data.step in STEPS else _step_of(data.source_type)
    if step is None or track.step(step).state == "done":
        return
    r.fail(track, step, data.reason, data.attempts, event, detail=data.error, parked=data.parked)
    r.settle(track, event)


def _step_of(event_type: str | None) -> str | None:
    return {"track.submitted": "validation"}.get(event_type or "")


HANDLERS: dict[str, Callable[[Records, Event], None]] = {
    "track.submitted": _track_submitted,
    "track.edited": _track_edited,
    "collection.submitted": _collection_submitted,
    "collection.edited": _collection_edited,
    "collection.validated": _collection_validated,
    "collection.rejected": _collection_rejected,
    "track.validated": _track_validated,
    "track.rejected": _track_rejected,
    "waveform.generated": _waveform_generated,
    "fingerprint.completed": _fingerprint_completed,
    "step.started": _step_started,
    "step.failed": _step_failed,
}


def handle(event: Event, *, deps: Deps) -> None:
    _apply(event, deps, HANDLERS[event.type])
