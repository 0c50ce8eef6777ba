"""Bus handlers: fingerprint validated tracks against the index; drop removed tracks from it."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from beatpass_common import faults
from beatpass_common.config import Settings
from beatpass_common.db import transaction
from beatpass_common.events import Event, FingerprintCompleted, ObjectRef, new_event
from beatpass_common.isolation import Runner, child_store
from beatpass_common.outbox import Outbox

from . import index
from .chroma import AudioPrint, analyse, fingerprint_from_bytes
from .metrics import FingerprintMetrics
from .search import find_duplicate
from .triplets import index_keys, triplets

log = logging.getLogger(__name__)


def handle_track_validated(
    event: Event,
    *,
    runner: Runner,
    session_factory: sessionmaker[Session],
    outbox: Outbox,
    settings: Settings,
    metrics: FingerprintMetrics,
) -> None:
    """Fingerprint the audio in ``runner``'s supervised child (an overrun raises
    ``beatpass_common.errors.Overrun``), then look it up and index it here, under the locks of its
    content (``index.lock_content``)."""
    data = event.payload()
    if event.track_id is None:
        raise ValueError("track.validated without a track id")
    source = f"{data.source.bucket}/{data.source.key}"
    with transaction(session_factory) as session:
        if _settled(session, outbox, event, event.track_id, source):
            outbox.notify()
            return
        legacy = index.has_legacy_hashes(session)  # then the old hash too, so those rows still match
    # Decoding is the slow part: done before taking any lock.
    audio = runner.call(print_audio, settings, data.source, legacy)
    exclude = {event.track_id} | ({data.replaces_track_id} if data.replaces_track_id else set())
    with transaction(session_factory) as session:
        index.lock_content(
            session,
            event.track_id,
            audio.fingerprint,
            (audio.pcm_hash, audio.legacy_hash),
            index_keys(triplets(audio.peaks)) if audio.peaks is not None else None,
            max_keys=settings.fingerprint_lock_keys,
            timeout_s=settings.fingerprint_lock_timeout_s,
        )
        if _settled(session, outbox, event, event.track_id, source):  # a concurrent copy of this event won
            outbox.notify()
            return
        index.remove(session, event.track_id)  # an earlier submission's audio
        with metrics.lookup.time():
            duplicate = find_duplicate(session, audio, exclude)
        result = FingerprintCompleted(duration_s=round(audio.duration_s, 3), duplicate=duplicate)
        if index.was_removed(session, event.track_id, event.attempt):
            log.info("track %s left the catalog before its fingerprint: not indexed", event.track_id)
        else:
            # A duplicate is about to be rejected: it must not become something others match.
            index.add(
                session,
                track_id=event.track_id,
                producer_id=event.producer_id,
                source=source,
                audio=audio,
                indexed=duplicate is None or duplicate.decision != "duplicate",
                result=result.model_dump(mode="json"),
                submission=event.attempt,
            )
        _stage(session, outbox, event, result)
    outbox.notify()
    metrics.fingerprinted(audio.duration_s, duplicate)
    log.info(
        "fingerprinted %s: %s",
        event.track_id,
        f"{duplicate.decision} of {duplicate.track_id} ({duplicate.kind})" if duplicate else "distinct",
    )


def print_audio(settings: Settings, source: ObjectRef, legacy_hash: bool = False) -> AudioPrint:
    """In the child: read and decode the audio into its Chromaprint fingerprint, exact PCM hash and
    shift-robust peaks (and the scheme-1 hash with ``legacy_hash``)."""
    faults.inject(settings, "fingerprint.print", source.key)
    with child_store(settings).open(source.bucket, source.key) as stream:
        return analyse(stream, legacy_hash=legacy_hash, shift_peaks=True)


def handle_track_removed(event: Event, *, session_factory: sessionmaker[Session], settings: Settings) -> None:
    if event.track_id is None:
        return
    with transaction(session_factory) as session:
        # Only this track's lock: fewer rows never let a copy pass that would otherwise be caught.
        index.lock_content(session, event.track_id, timeout_s=settings.fingerprint_lock_timeout_s)
        if index.remove(session, event.track_id):
            log.info("removed %s from the index (%s)", event.track_id, event.payload().reason)
        index.record_removal(session, event.track_id, event.attempt)


def handle_track_ready(event: Event, *, session_factory: sessionmaker[Session], settings: Settings) -> None:
    """A track held out of the index as a duplicate became ready: its dispute was accepted."""
    if event.track_id is None:
        return
    with transaction(session_factory) as session:
        row = index.get(session, event.track_id)
        if row is None or row.indexed:
            return
        index.lock_content(
            session,
            event.track_id,
            fingerprint_from_bytes(row.fingerprint),
            (row.pcm_hash,),
            index.stored_shift_keys(session, row.id),
            max_keys=settings.fingerprint_lock_keys,
            timeout_s=settings.fingerprint_lock_timeout_s,
        )
        session.expire_all()  # read it again now that its content is ours: it may be indexed or gone
        row = index.get(session, event.track_id)
        if row is not None and not row.indexed:
            index.admit(session, row)
            log.info("indexed %s after an accepted dispute", event.track_id)


def _settled(session: Session, outbox: Outbox, event: Event, track_id: str, source: str) -> bool:
    """Nothing to compute: the event is of a superseded submission, or this audio of this track is
    already fingerprinted (then the stored result is published again)."""
    row = index.get(session, track_id)
    if row is None:
        return False
    if row.submission > event.attempt:
        log.info("ignoring track.validated of superseded submission %d of %s", event.attempt, track_id)
        return True
    if row.source != source:
        return False
    _stage(session, outbox, event, FingerprintCompleted.model_validate(row.result))
    return True


def _stage(session: Session, outbox: Outbox, cause: Event, result: FingerprintCompleted) -> None:
    # The id follows from the cause, so a repeat is sent under the same id and consumers drop it.
    outbox.add(
        session,
        new_event(
            "fingerprint.completed",
            result,
            producer_id=cause.producer_id,
            track_id=cause.track_id,
            collection_id=cause.collection_id,
            attempt=cause.attempt,
            caused_by=cause,
        ),
    )
