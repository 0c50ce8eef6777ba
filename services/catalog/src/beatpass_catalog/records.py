"""Track and collection lifecycle rules, applied inside a transaction by the handlers and reaper.

Events for one track arrive on one queue but may come twice, late or out of order (retries park
messages in wait queues), so every rule here is written to be order-independent: a result for a
track not yet submitted creates a placeholder that the submission fills in; a result of an earlier
submission (lower ``attempt``) is stale and ignored; readiness is re-checked after every change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from beatpass_common import bpm
from beatpass_common.config import Settings
from beatpass_common.db import as_utc
from beatpass_common.events import Event, TrackMetadata, new_event
from beatpass_common.outbox import Outbox
from beatpass_common.tracks import STEPS, UNSETTLED

from .models import Change, Collection, Step, Track


def now() -> datetime:
    return datetime.now(UTC)


# What the producer reads when a step fails, by reason: which step, what happened, what to do.
# {step} is the step's name; {attempts} how many times it was tried.
_FAILED = {
    "error": "Processing failed at the {step} step after {attempts} attempts. Nothing was lost; retry this item.",
    "timeout": (
        "Processing stopped at the {step} step: this file took longer than we allow for one file. "
        "Nothing was lost; retry this item, and contact support if it happens again."
    ),
    "memory": (
        "Processing stopped at the {step} step: this file needed more memory than we allow for one file. "
        "Nothing was lost; retry this item, and contact support if it happens again."
    ),
    "worker_died": (
        "Processing stopped at the {step} step: the worker handling this file stopped unexpectedly "
        "{attempts} times. Nothing was lost; retry this item, and contact support if it happens again."
    ),
    "unreadable": (
        "Processing failed at the {step} step: we could not read a file that passed validation. "
        "This is our fault, not your file's; there is no need to change it. Retry this item, and "
        "contact support if it happens again."
    ),
    "not_started": (
        "Processing did not start at the {step} step: this file waited in line longer than we allow. "
        "Nothing was lost; retry this item, and contact support if it happens again."
    ),
}
FAILURE_REASONS = tuple(_FAILED)


def failed_message(step: str, reason: str, attempts: int) -> str:
    """The producer's sentence for a failed step (an unknown reason reads as ``error``)."""
    return _FAILED.get(reason, _FAILED["error"]).format(step=step, attempts=attempts)


class Records:
    """The catalog's rules over one session; stages events in the outbox, changes for SSE."""

    def __init__(self, session: Session, outbox: Outbox, settings: Settings):
        self.s = session
        self.outbox = outbox
        self.settings = settings
        self.touched_collections: set[str] = set()

    # ---- tracks ---------------------------------------------------------------------------

    def track(self, event: Event, *, lock: bool = True) -> Track:
        """The event's track, created as a placeholder if its submission has not arrived yet."""
        query = select(Track).where(Track.id == event.track_id)
        if lock:
            query = query.with_for_update()
        track = self.s.scalars(query).first()
        if track is None:
            t = now()
            track = Track(
                id=event.track_id,
                producer_id=event.producer_id,
                collection_id=event.collection_id,
                submission=event.attempt,
                submitted=False,
                status="processing",
                meta={},
                errors=[],
                warnings=[],
                version=0,
                created_at=t,
                updated_at=t,
            )
            track.steps = [Step(name=n, position=i, state="pending", attempts=0) for i, n in enumerate(STEPS)]
            self.s.add(track)
            self.s.flush()
        return track

    def stale(self, track: Track, event: Event) -> bool:
        return event.attempt < track.submission

    def queue_step(self, track: Track, name: str) -> None:
        """Its starting event is on its way to the step's queue: pending, with the queue deadline
        (the run deadline starts with step.started). A step already started or over is kept."""
        step = track.step(name)
        if step.state != "pending" or step.deadline_at is not None:
            return
        step.attempts = max(step.attempts, 1)
        step.deadline_at = now() + timedelta(seconds=self.settings.step_queue_deadline_s)

    def start_step(self, track: Track, name: str, started: datetime) -> None:
        """A worker took the step's message at ``started`` (step.started): running, deadline from
        now. Again for a redelivery (the worker restarted). After the step's result (the two travel
        apart, so the start may come second) the step stays over; only a missing start is filled in."""
        step = track.step(name)
        if step.state in {"done", "failed"}:
            if step.started_at is None and step.finished_at is not None:
                step.started_at = min(as_utc(started), step.finished_at)  # an envelope may say naive UTC
            return
        if track.status not in UNSETTLED:
            return
        t = now()
        step.state = "running"
        step.attempts = max(step.attempts, 1)
        step.started_at = t
        step.deadline_at = t + timedelta(seconds=self.settings.step_deadline_s)

    def finish_step(self, track: Track, name: str, state: str = "done", error: str | None = None) -> None:
        step = track.step(name)
        step.state = state
        step.error = error
        step.attempts = max(step.attempts, 1)
        step.finished_at = now()
        step.deadline_at = None

    def submit(self, track: Track, event: Event) -> None:
        """A (re)submission: reset the track to processing with this submission's data."""
        data = event.payload()
        resubmit = track.submitted and event.attempt > track.submission
        track.submission = event.attempt
        track.submitted = True
        track.collection_id = event.collection_id or track.collection_id
        if data.edit >= track.edit_seq:  # else an edit made after this submission already holds newer metadata
            track.edit_seq = data.edit
            self.set_metadata(track, data.metadata)
        track.audio = data.audio.model_dump(mode="json")
        track.cover = {"upload": data.cover.model_dump(mode="json")}
        track.replaces_track_id = data.replaces_track_id
        track.submitted_event = event.model_dump_json()
        if resubmit:
            track.status = "processing"
            track.errors, track.warnings = [], []
            track.facts = track.waveform = track.duplicate = track.dispute = None
            track.validated_event = None
            for step in track.steps:
                step.state, step.attempts, step.error = "pending", 0, None
                step.reason = step.detail = None
                step.parked = False
                step.started_at = step.finished_at = step.deadline_at = None
        self.queue_step(track, "validation")
        self.settle(track)

    def edit(self, track: Track, edit: int, metadata: TrackMetadata, fields: list[str], cause: Event) -> None:
        """The producer's edit number ``edit`` (newer than ``track.edit_seq``): the whole metadata
        after it, and a change on the track's stream naming the ``fields`` it changed."""
        track.edit_seq = edit
        self.set_metadata(track, metadata)
        self.settle(track, cause, note={"edited": fields})

    def set_metadata(self, track: Track, metadata: TrackMetadata) -> None:
        track.title = metadata.title
        track.meta = metadata.model_dump(mode="json")
        self.refresh_bpm_warning(track)

    def refresh_bpm_warning(self, track: Track) -> None:
        """The BPM warning follows the BPM the producer gives now, not the one validation saw
        (they may edit it while or after the track is measured): same rule, same sentence."""
        track.warnings = bpm.refreshed(track.warnings or [], (track.meta or {}).get("bpm"), track.facts)

    def reject(self, track: Track, errors: list[dict], *, publish: bool, cause: Event | None) -> None:
        track.status = "rejected"
        track.errors = errors
        for step in track.steps:
            if step.state in {"pending", "running"}:
                step.deadline_at = None
        if publish:
            self.emit("track.rejected", track, {"errors": errors, "step": "fingerprint"}, cause)
        self.emit("track.removed", track, {"reason": "rejected"}, cause)

    def fail(
        self,
        track: Track,
        step: str,
        reason: str,
        attempts: int,
        cause: Event | None,
        *,
        detail: str | None = None,
        parked: bool = False,
    ) -> None:
        """The step failed for ``reason`` (FAILURE_REASONS); the track fails with the sentence."""
        message = failed_message(step, reason, attempts)
        self.finish_step(track, step, "failed", message)
        failed = track.step(step)
        failed.reason, failed.detail, failed.parked = reason, detail, parked
        if track.status in UNSETTLED:
            track.status = "failed"
            track.errors = [{"code": "PROCESSING_FAILED", "field": None, "message": message}]
            self.emit("track.failed", track, {"step": step, "message": message}, cause)
        for other in track.steps:
            if other.state in {"pending", "running"}:
                other.deadline_at = None

    def settle(self, track: Track, cause: Event | None = None, note: dict | None = None) -> None:
        """Become ready once every step is done and nothing blocks; record the change (with
        ``note``'s keys, e.g. what an edit changed).

        Only a processing track becomes ready, and a ready one only goes back to processing
        through a new submission, so track.ready is published once per submission."""
        if track.status == "processing" and track.submitted and all(s.state == "done" for s in track.steps):
            track.status = "ready"
            self.supersede(track, cause)
            self.emit(
                "track.ready",
                track,
                {
                    "title": track.title,
                    "duration_s": (track.facts or {}).get("duration_s"),
                    "collection_id": track.collection_id,
                },
                cause,
            )
        track.version += 1
        track.updated_at = now()
        self.record_change(
            "track",
            track.id,
            track.producer_id,
            {
                "track_id": track.id,
                "status": track.status,
                "version": track.version,
                "steps": {s.name: s.state for s in track.steps},
                "collection_id": track.collection_id,
                "edit": track.edit_seq,
                **(note or {}),
            },
        )
        if track.collection_id:
            self.touched_collections.add(track.collection_id)

    def supersede(self, track: Track, cause: Event | None) -> None:
        """A new version is ready: the track it replaces steps aside (and out of the duplicate
        index), and takes its place in its collection, leaving the other items untouched."""
        if not track.replaces_track_id:
            return
        old = self.s.scalars(select(Track).where(Track.id == track.replaces_track_id).with_for_update()).first()
        if old is None or old.producer_id != track.producer_id or old.status != "ready":
            return
        old.status = "replaced"
        old.replaced_by = track.id
        self.emit("track.removed", old, {"reason": "replaced"}, cause)
        if old.collection_id:
            collection = self.s.get(Collection, old.collection_id, with_for_update=True)
            if collection is not None and old.id in collection.track_ids:
                collection.track_ids = [track.id if t == old.id else t for t in collection.track_ids]
                track.collection_id = collection.id
                self.touched_collections.add(collection.id)
        old.version += 1
        old.updated_at = now()
        self.record_change(
            "track",
            old.id,
            old.producer_id,
            {"track_id": old.id, "status": old.status, "version": old.version, "replaced_by": track.id},
        )

    def emit(self, type_: str, track: Track, data: dict, cause: Event | None) -> None:
        event = new_event(
            type_,
            data,
            producer_id=track.producer_id,
            track_id=track.id,
            collection_id=track.collection_id,
            attempt=track.submission,
            caused_by=cause if cause is not None and cause.type != type_ else None,
        )
        self.outbox.add(self.s, event)

    def record_change(self, subject: str, subject_id: str, producer_id: str, body: dict) -> None:
        self.s.add(Change(producer_id=producer_id, subject=subject, subject_id=subject_id, body=body, created_at=now()))

    # ---- collections ----------------------------------------------------------------------

    def refresh_collections(self) -> None:
        for cid in sorted(self.touched_collections):
            collection = self.s.scalars(select(Collection).where(Collection.id == cid).with_for_update()).first()
            if collection is None:
                continue  # its tracks arrived first; collection.submitted will aggregate
            self.aggregate(collection)
        self.touched_collections.clear()

    def collection_changed(self, collection: Collection, **note) -> None:
        """A change of the collection itself (an edit, a new cover in force): on its stream."""
        collection.version += 1
        collection.updated_at = now()
        self.record_change(
            "collection",
            collection.id,
            collection.producer_id,
            {"collection_id": collection.id, "status": collection.status, "version": collection.version, **note},
        )

    def aggregate(self, collection: Collection) -> None:
        statuses = [t.status for t in self.s.scalars(select(Track).where(Track.id.in_(collection.track_ids)))]
        missing = len(collection.track_ids) - len(statuses)
        status = "rejected" if collection.errors else collection_status(statuses, missing)
        if status != collection.status or collection.version == 0:
            collection.status = status
            collection.version += 1
            collection.updated_at = now()
            self.record_change(
                "collection",
                collection.id,
                collection.producer_id,
                {"collection_id": collection.id, "status": status, "version": collection.version},
            )


def collection_status(item_statuses: list[str], missing: int = 0) -> str:
    if missing or any(s in UNSETTLED for s in item_statuses):
        return "processing"
    if all(s == "ready" for s in item_statuses):
        return "ready"
    if all(s in {"rejected", "failed"} for s in item_statuses):
        return "rejected"
    return "partial"
