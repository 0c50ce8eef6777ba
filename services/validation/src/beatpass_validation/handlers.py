"""track.submitted -> track.validated or track.rejected.

Producer mistakes (including a missing upload) end as a rejection listing every problem found in
the audio and the cover together. The checks run in a supervised child process (``runner``, a
``beatpass_common.isolation.Runner``): an overrun of the required audio part is not the producer's
fault and propagates as an ``Overrun`` (the bus retries, then parks); the cover has a time budget
of its own (``cover_time_limit_s``), past which the image is refused (``COVER_TOO_COMPLEX``); an
overrun of the optional BPM/key estimate only leaves it out, with an ``ESTIMATE_SKIPPED`` warning. Other exceptions mean
our fault (storage or broker trouble) and are retried by the bus. A redelivered event yields the
same event id (``new_event(caused_by=...)``) and overwrites the same derivative objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypedDict

from beatpass_common import bpm
from beatpass_common.config import Settings
from beatpass_common.errors import Overrun, TimeLimitExceeded
from beatpass_common.events import (
    CollectionRejected,
    CollectionValidated,
    Event,
    ObjectRef,
    TrackRejected,
    TrackValidated,
    new_event,
)
from beatpass_common.isolation import Runner, Terminated

from . import rules, work

log = logging.getLogger(__name__)


class _Ids(TypedDict, total=False):
    """The ids a result event carries over from the event it answers."""

    producer_id: str
    track_id: str | None
    collection_id: str | None


def handle_track_submitted(
    event: Event, *, publish: Callable[[Event], None], settings: Settings, runner: Runner
) -> None:
    submitted = event.payload()
    ids: _Ids = {"producer_id": event.producer_id, "track_id": event.track_id, "collection_id": event.collection_id}
    heard = runner.call(work.check_track_audio, settings, submitted.audio)
    seen = _check_cover(
        runner,
        settings,
        submitted.cover,
        event.track_id or event.id,
        "tracks",
        keep=not heard.problems,
        audio_key=submitted.audio.key,
    )
    problems = heard.problems + seen.problems
    if problems:
        log.info("track rejected: %s", ", ".join(p.code for p in problems))
        publish(new_event("track.rejected", TrackRejected(errors=problems, step="validation"), caused_by=event, **ids))
        return
    facts, warnings = heard.audio, []
    assert facts is not None  # no problems: the audio was decoded and measured
    try:
        facts = runner.call(
            work.estimate,
            settings,
            facts,
            heard.excerpts,
            submitted.audio.key,
            time_limit_s=settings.estimate_time_limit_s,
        )
    except Terminated:
        raise  # shutting down: the message goes back, nothing is published
    except Overrun as exc:
        log.warning("BPM/key estimate skipped: %s", exc)
        warnings.append(rules.estimate_skipped())
    validated = TrackValidated(
        source=submitted.audio,
        audio=facts,
        cover=seen.cover,
        cover_images=seen.images,
        warnings=warnings + bpm.warnings(submitted.metadata.bpm, facts),
        replaces_track_id=submitted.replaces_track_id,
    )
    publish(new_event("track.validated", validated, caused_by=event, **ids))


def handle_collection_submitted(
    event: Event, *, publish: Callable[[Event], None], settings: Settings, runner: Runner
) -> None:
    """The album art: the same checks as a track's cover, derivatives under collections/{id}/.

    Also takes collection.edited: a changed cover (revision = the edit number, carried by the
    verdict's ``attempt``) is checked the same way, its images under keys of that revision; an
    edit that changed no cover needs nothing from validation."""
    submitted = event.payload()
    if submitted.cover is None:
        return
    revision = submitted.edit if event.type == "collection.edited" else 0
    ids: _Ids = {"producer_id": event.producer_id, "collection_id": event.collection_id}
    checked = _check_cover(
        runner, settings, submitted.cover, event.collection_id or event.id, "collections", revision=revision
    )
    if checked.problems:
        publish(new_event("collection.rejected", CollectionRejected(errors=checked.problems), caused_by=event, **ids))
        return
    publish(
        new_event(
            "collection.validated",
            CollectionValidated(cover=checked.cover, cover_images=checked.images),
            caused_by=event,
            **ids,
        )
    )


def _check_cover(
    runner: Runner, settings: Settings, cover: ObjectRef, owner_id: str, kind: str, **options
) -> work.Checked:
    """The cover under its own time budget: with the structure already bounded (cover.py), an image
    that still takes longer than ``cover_time_limit_s`` is refused, not our fault."""
    try:
        return runner.call(
            work.check_cover_art, settings, cover, owner_id, kind, time_limit_s=settings.cover_time_limit_s, **options
        )
    except TimeLimitExceeded as exc:
        log.warning("cover refused: %s", exc)
        return work.Checked(problems=[rules.cover_too_slow(settings.cover_time_limit_s)])
