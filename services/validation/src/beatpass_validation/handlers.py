"""track.submitted -> track.validated or track.rejected.

Producer mistakes (including a missing upload) end as a rejection listing every problem found in
the audio and the cover together. The checks run in a supervised child process (``runner``, a
``beatpass_common.isolation.Runner``): an overrun of the required part is not the producer's
fault and propagates as an ``Overrun`` (the bus retries, then parks); an overrun of the optional
BPM/key estimate only leaves it out, with an ``ESTIMATE_SKIPPED`` warning. Other exceptions mean
our fault (storage or broker trouble) and are retried by the bus. A redelivered event yields the
same event id (``new_event(caused_by=...)``) and overwrites the same derivative objects.
"""

from __future__ import annotations

import logging
from typing import Callable

from beatpass_common.config import Settings
from beatpass_common.errors import Overrun
from beatpass_common.events import (
    AudioFacts, CollectionRejected, CollectionValidated, Event, Problem, TrackRejected, TrackValidated, new_event,
)
from beatpass_common.isolation import Runner, Terminated

from . import rules, work

log = logging.getLogger(__name__)
# Under this confidence the tempo estimate is too weak to second-guess the producer.
MIN_BPM_CONFIDENCE = 0.3


def handle_track_submitted(event: Event, *, publish: Callable[[Event], None], settings: Settings,
                           runner: Runner) -> None:
    submitted = event.payload()
    ids = {"producer_id": event.producer_id, "track_id": event.track_id, "collection_id": event.collection_id}
    checked = runner.call(work.check_track, settings, submitted.audio, submitted.cover, event.track_id or event.id)
    if checked.problems:
        log.info("track rejected: %s", ", ".join(p.code for p in checked.problems))
        publish(new_event("track.rejected", TrackRejected(errors=checked.problems, step="validation"),
                          caused_by=event, **ids))
        return
    facts, warnings = checked.audio, []
    try:
        facts = runner.call(work.estimate, settings, facts, checked.excerpts, submitted.audio.key,
                            time_limit_s=settings.estimate_time_limit_s)
    except Terminated:
        raise  # shutting down: the message goes back, nothing is published
    except Overrun as exc:
        log.warning("BPM/key estimate skipped: %s", exc)
        warnings.append(rules.estimate_skipped())
    validated = TrackValidated(
        source=submitted.audio, audio=facts, cover=checked.cover, cover_images=checked.images,
        warnings=warnings + _bpm_warnings(submitted.metadata.bpm, facts),
        replaces_track_id=submitted.replaces_track_id,
    )
    publish(new_event("track.validated", validated, caused_by=event, **ids))


def handle_collection_submitted(event: Event, *, publish: Callable[[Event], None], settings: Settings,
                                runner: Runner) -> None:
    """The album art: the same checks as a track's cover, derivatives under collections/{id}/."""
    submitted = event.payload()
    ids = {"producer_id": event.producer_id, "collection_id": event.collection_id}
    checked = runner.call(work.check_collection, settings, submitted.cover, event.collection_id or event.id)
    if checked.problems:
        publish(new_event("collection.rejected", CollectionRejected(errors=checked.problems), caused_by=event, **ids))
        return
    publish(new_event("collection.validated", CollectionValidated(cover=checked.cover, cover_images=checked.images),
                      caused_by=event, **ids))


def _bpm_warnings(declared_bpm: int, facts: AudioFacts) -> list[Problem]:
    if facts.estimated_bpm is None or (facts.bpm_confidence or 0) < MIN_BPM_CONFIDENCE:
        return []
    if rules.bpm_agrees(declared_bpm, facts.estimated_bpm):
        return []
    return [rules.bpm_mismatch(declared_bpm, facts.estimated_bpm)]
