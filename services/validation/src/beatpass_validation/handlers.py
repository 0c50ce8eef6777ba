"""track.submitted -> track.validated or track.rejected.

Producer mistakes (including a missing upload or a file too slow to check) end as a rejection
listing every problem found in the audio and the cover together; exceptions mean our fault
(storage or broker trouble) and are retried by the bus. A redelivered event yields the same
event id (``new_event(caused_by=...)``) and overwrites the same derivative objects.
"""

from __future__ import annotations

import logging
from typing import Callable

from beatpass_common.config import Settings
from beatpass_common.events import (
    CollectionRejected, CollectionValidated, Event, ObjectRef, Problem, TrackRejected, TrackValidated, new_event,
)
from beatpass_common.storage import ObjectStore

from . import rules
from .audio import AudioResult, check_audio
from .cover import CoverResult, check_cover, derivative_keys
from .deadline import Deadline, StepTimeout

log = logging.getLogger(__name__)
# Under this confidence the tempo estimate is too weak to second-guess the producer.
MIN_BPM_CONFIDENCE = 0.3


def handle_track_submitted(event: Event, *, store: ObjectStore, publish: Callable[[Event], None],
                           settings: Settings) -> None:
    submitted = event.payload()
    deadline = Deadline(min(settings.handler_time_limit_s, settings.step_deadline_s))
    timed_out = False
    try:
        audio = check_audio(store, submitted.audio, settings, deadline)
    except StepTimeout:
        audio, timed_out = AudioResult(), True
    try:
        cover = check_cover(store, submitted.cover, settings, deadline)
    except StepTimeout:
        cover, timed_out = CoverResult(), True
    problems = audio.problems + cover.problems + ([rules.timeout(deadline.seconds)] if timed_out else [])
    ids = {"producer_id": event.producer_id, "track_id": event.track_id, "collection_id": event.collection_id}
    if problems:
        log.info("track rejected: %s", ", ".join(p.code for p in problems))
        publish(new_event("track.rejected", TrackRejected(errors=problems, step="validation"), caused_by=event, **ids))
        return
    images = _store_derivatives(store, settings, cover, event.track_id or event.id)
    validated = TrackValidated(
        source=submitted.audio, audio=audio.facts, cover=cover.facts, cover_images=images,
        warnings=_warnings(submitted.metadata.bpm, audio), replaces_track_id=submitted.replaces_track_id,
    )
    publish(new_event("track.validated", validated, caused_by=event, **ids))


def handle_collection_submitted(event: Event, *, store: ObjectStore, publish: Callable[[Event], None],
                                settings: Settings) -> None:
    """The album art: the same checks as a track's cover, derivatives under collections/{id}/."""
    submitted = event.payload()
    deadline = Deadline(min(settings.handler_time_limit_s, settings.step_deadline_s))
    try:
        cover = check_cover(store, submitted.cover, settings, deadline)
        problems = cover.problems
    except StepTimeout:
        cover, problems = CoverResult(), [rules.timeout(deadline.seconds)]
    ids = {"producer_id": event.producer_id, "collection_id": event.collection_id}
    if problems:
        publish(new_event("collection.rejected", CollectionRejected(errors=problems), caused_by=event, **ids))
        return
    images = _store_derivatives(store, settings, cover, event.collection_id or event.id, kind="collections")
    publish(new_event("collection.validated", CollectionValidated(cover=cover.facts, cover_images=images),
                      caused_by=event, **ids))


def _store_derivatives(store: ObjectStore, settings: Settings, cover: CoverResult,
                       owner_id: str, kind: str = "tracks") -> dict[str, ObjectRef]:
    refs = {}
    for name, key in derivative_keys(owner_id, kind).items():
        put = store.put_bytes(settings.media_bucket, key, cover.derivatives[name], "image/jpeg")
        refs[name] = ObjectRef(bucket=settings.media_bucket, key=key, size=put.size, sha256=put.sha256,
                               content_type="image/jpeg")
    return refs


def _warnings(declared_bpm: int, audio: AudioResult) -> list[Problem]:
    facts = audio.facts
    if facts.estimated_bpm is None or (facts.bpm_confidence or 0) < MIN_BPM_CONFIDENCE:
        return []
    if rules.bpm_agrees(declared_bpm, facts.estimated_bpm):
        return []
    return [rules.bpm_mismatch(declared_bpm, facts.estimated_bpm)]
