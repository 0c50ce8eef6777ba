"""The gateway's use cases that save: a track, a collection, a retry; and ``commit``, which runs any
of them (edits and replacements too, ``editing``) once per ``Idempotency-Key``.

A use case checks everything first, raising ``SaveRejected`` with one entry per problem, and
returns a ``Change``: what one transaction then stages (rows and outbox events) and the body of
the answer. The HTTP layer only parses, calls one use case through ``commit`` and maps the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from beatpass_common.auth import Producer
from beatpass_common.db import transaction

from . import idempotency
from .fields import TRACK_NOT_FOUND, FieldError, messages
from .models import Submission
from .saving import SaveRejected


@dataclass(frozen=True)
class Change:
    """A checked change: ``stage(session) -> body`` adds it to the caller's transaction (and may
    still raise ``SaveRejected`` on what it finds under its locks); answered with ``status``."""

    stage: Callable[[Session], dict]
    status: int = 202


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool = False


def commit(gw, producer: Producer, key: str | None, route: str, body: dict, use_case: Callable[[], Change]) -> Outcome:
    """Run ``use_case`` and commit its change, with the answer stored under ``key`` in the same
    transaction: the same key and body later replay that answer (``Outcome.replayed``). Only a
    change that happened is remembered: after a refusal or a fault the key is free again.

    Raises ``SaveRejected`` (the use case's) and ``idempotency.KeyConflict`` (400 invalid key,
    422 reused for another request, 409 in flight)."""
    claim: idempotency.Claim | None = None
    if key is not None:
        begun = idempotency.begin(
            gw.factory, producer.id, key, route, idempotency.request_hash(route, body), gw.settings.lease_s
        )
        if isinstance(begun, idempotency.Replay):
            return Outcome(begun.status, begun.body, replayed=True)
        claim = begun
    try:
        with idempotency.held(gw.factory, claim, gw.settings.lease_s):
            change = use_case()
            with transaction(gw.factory) as s:
                result = change.stage(s)
                if claim is not None:
                    idempotency.finish(s, claim, change.status, result)
    except BaseException:
        if claim is not None:
            idempotency.abandon(gw.factory, claim)
        raise
    gw.outbox.notify()
    return Outcome(change.status, result)


def save_track(gw, producer: Producer, body: dict) -> Change:
    """``POST /api/v1/tracks``: a new track (a new version of a ready one with ``replaces_track_id``)."""
    checked = gw.saver.check_track(producer.id, body)
    if body.get("replaces_track_id") is not None:
        checked.errors.extend(replaceable(gw, producer, body["replaces_track_id"]))
    if checked.errors:
        raise SaveRejected(checked.errors)
    return Change(lambda s: gw.saver.save_track(s, producer.id, producer.upload_minutes_limit, checked))


def replaceable(gw, producer: Producer, track_id) -> list[FieldError]:
    """A new version may replace only one of the producer's own ready tracks (the catalog says)."""
    if not isinstance(track_id, str):
        return [
            FieldError(
                "replaces_track_id", "REPLACES_TRACK_ID_INVALID", messages(gw.settings)["REPLACES_TRACK_ID_INVALID"]
            )
        ]
    try:
        status, track = gw.catalog.get(producer.id, f"tracks/{uuid.UUID(track_id)}")
    except ValueError:
        status, track = 404, None
    if status == 200 and track and track["status"] == "ready":
        return []
    return [
        FieldError(
            "replaces_track_id",
            "REPLACED_TRACK_NOT_FOUND",
            "The track to replace was not found among your ready tracks.",
        )
    ]


def save_collection(gw, producer: Producer, body: dict) -> Change:
    """``POST /api/v1/collections``: all of its tracks, or nothing."""
    errors, checked, cover = gw.saver.check_collection(producer.id, body)
    if errors:
        raise SaveRejected(errors)
    return Change(
        lambda s: gw.saver.save_collection(s, producer.id, producer.upload_minutes_limit, body, checked, cover)
    )


STILL_PROCESSING = FieldError(
    "track", "NOT_RETRYABLE", "This track is still processing. It can be retried once it is rejected or failed."
)


def retry_track(gw, producer: Producer, body: dict, track_id: str, collection_id: str | None = None) -> Change:
    """Re-submit the track's latest submission ``n`` as ``n + 1``, once.

    The gateway's own submission row is the base (a track it never saved is 404). The catalog must
    report the track rejected or failed for that very submission: a view of an earlier one (it has
    not recorded ``n`` yet) means ``n`` is still processing. The commit then moves the row from
    ``n`` to ``n + 1`` only if it still holds ``n`` (saving.Saver.advance), so of concurrent or
    repeated retries of ``n`` exactly one is accepted and the others are 409 NOT_RETRYABLE, before
    they reserve minutes or claim an upload.
    """
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
        raise SaveRejected(
            [FieldError("track", "NOT_RETRYABLE", "Only a rejected or failed item can be retried.")], 409
        )
    checked = gw.saver.check_track(producer.id, body, track_id=track_id, base=base)
    checked.attempt = base.attempt + 1
    if body.get("replaces_track_id") is not None:
        checked.errors.extend(replaceable(gw, producer, body["replaces_track_id"]))
    if checked.errors:
        raise SaveRejected(checked.errors)

    def stage(s: Session) -> dict:
        if not gw.saver.advance(s, track_id, base.attempt):
            raise SaveRejected([STILL_PROCESSING], 409)  # another retry of ``n`` got there first
        return gw.saver.save_track(s, producer.id, producer.upload_minutes_limit, checked, base.collection_id)

    return Change(stage)
