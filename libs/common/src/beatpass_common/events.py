"""The event envelope and one data model per event type (docs/DESIGN.md, "Events").

Events are validated when published and when consumed; anything that does not fit raises
``MalformedEvent`` so the bus can dead-letter it with the reason instead of crashing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .logs import current_field

SCHEMA_VERSION = 1


class MalformedEvent(ValueError):
    """A message that is not a valid BeatPass event; the reason is the exception text."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ObjectRef(_Model):
    bucket: str
    key: str
    size: int = Field(ge=0)
    sha256: str | None = None
    content_type: str | None = None


class Problem(_Model):
    """One thing a producer must fix (or be told about): stable code, field, exact sentence."""

    code: str
    field: str | None = None
    message: str


class TrackMetadata(_Model):
    title: str
    artists: list[str]
    bpm: int
    key: str
    scale: str
    licensing: str
    description: str | None = None
    genres: list[str] = []
    tags: list[str] = []
    mood: str | None = None


class TrackSubmitted(_Model):
    audio: ObjectRef
    cover: ObjectRef
    metadata: TrackMetadata
    filename: str | None = None
    declared_duration_s: float | None = None
    replaces_track_id: str | None = None
    edit: int = Field(0, ge=0)  # the last edit (TrackEdited.edit) ``metadata`` includes


class TrackEdited(_Model):
    """The producer changed a track's metadata after saving it (upload -> catalog).

    ``edit`` numbers the track's edits from 1 (the gateway assigns it under the track's row lock);
    ``metadata`` is the whole metadata after this edit, so the catalog keeps the highest ``edit``
    it has seen, whatever order edits (and submissions, see ``TrackSubmitted.edit``) arrive in.
    ``fields`` names what this edit changed."""

    edit: int = Field(ge=1)
    metadata: TrackMetadata
    fields: list[str] = []


class CollectionSubmitted(_Model):
    title: str
    cover: ObjectRef
    track_ids: list[str]


class CollectionEdited(_Model):
    """The producer changed a collection (upload -> catalog, validation); only what changed is
    given. ``edit`` numbers the collection's edits from 1 and is also the envelope's ``attempt``,
    so validation's verdict on a new ``cover`` (collection.validated / collection.rejected)
    carries it. ``track_ids``: the new order of the collection's tracks."""

    edit: int = Field(ge=1)
    title: str | None = None
    track_ids: list[str] | None = None
    cover: ObjectRef | None = None


class AudioFacts(_Model):
    format: str
    sample_rate: int
    bit_depth: int
    channels: int
    duration_s: float
    loudness_lufs: float | None = None
    peak_dbfs: float | None = None
    clipped_ratio: float | None = None
    estimated_bpm: float | None = None
    bpm_confidence: float | None = None
    estimated_key: str | None = None
    key_confidence: float | None = None
    pcm_sha256: str | None = None


class CoverFacts(_Model):
    format: str
    width: int
    height: int
    mode: str | None = None


class TrackValidated(_Model):
    source: ObjectRef  # the audio object the later steps read
    audio: AudioFacts
    cover: CoverFacts
    cover_images: dict[str, ObjectRef] = {}  # e.g. {"large": 1000 px JPEG, "thumb": 300 px}
    warnings: list[Problem] = []
    replaces_track_id: str | None = None


class CollectionValidated(_Model):
    cover: CoverFacts
    cover_images: dict[str, ObjectRef] = {}


class CollectionRejected(_Model):
    errors: list[Problem]


class TrackRejected(_Model):
    errors: list[Problem]
    step: str | None = None


class WaveformGenerated(_Model):
    json_ref: ObjectRef = Field(alias="json")
    dat: ObjectRef
    png: ObjectRef
    samples_per_pixel: int
    bits: int = 8

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DuplicateMatch(_Model):
    track_id: str
    score: float
    offset_s: float
    kind: Literal["exact", "acoustic", "shifted"]  # shifted: a pitch, tempo or speed change of the matched track
    decision: Literal["duplicate", "review"] = "duplicate"
    coverage: float | None = None  # share of the new track that matches
    matched_coverage: float | None = None  # share of the matched track that matches
    matched_ranges: list[tuple[float, float]] = []  # [start, end) seconds of the new track that match
    pitch_semitones: float | None = None  # shifted: the new track's pitch minus the matched track's
    tempo_ratio: float | None = None  # shifted: the new track's tempo / the matched track's (1.05: 5 % faster)


class FingerprintCompleted(_Model):
    duration_s: float
    duplicate: DuplicateMatch | None = None


class TrackReady(_Model):
    title: str
    duration_s: float | None = None
    collection_id: str | None = None


class TrackFailed(_Model):
    step: str
    message: str


# Why a step failed: a handler error after its retries, a hard limit the runtime enforced
# (timeout, memory, worker_died), or input that validation accepted and the step could not read.
FailureReason = Literal["error", "timeout", "memory", "worker_died", "unreadable"]


class StepFailed(_Model):
    """A worker gave up on a step. ``parked``: the message sits in ``<service>.dead`` and is
    never re-driven automatically (it overran a hard limit or killed its worker repeatedly)."""

    step: str
    error: str
    attempts: int
    source_event_id: str | None = None
    source_type: str | None = None
    reason: FailureReason = "error"
    parked: bool = False


class StepStarted(_Model):
    """A worker took a step's message: the catalog starts the step's deadline now."""

    step: str


class TrackRemoved(_Model):
    """A track left the catalog (rejected, replaced or deleted): indexes drop it."""

    reason: str


DATA_MODELS: dict[str, type[_Model]] = {
    "track.submitted": TrackSubmitted,
    "track.edited": TrackEdited,
    "collection.submitted": CollectionSubmitted,
    "collection.edited": CollectionEdited,
    "collection.validated": CollectionValidated,
    "collection.rejected": CollectionRejected,
    "track.validated": TrackValidated,
    "track.rejected": TrackRejected,
    "waveform.generated": WaveformGenerated,
    "fingerprint.completed": FingerprintCompleted,
    "track.ready": TrackReady,
    "track.failed": TrackFailed,
    "track.removed": TrackRemoved,
    "step.failed": StepFailed,
    "step.started": StepStarted,
}


class Event(_Model):
    id: str
    type: str
    version: int = SCHEMA_VERSION
    occurred_at: datetime
    producer_id: str
    track_id: str | None = None
    collection_id: str | None = None
    attempt: int = 0
    # The public request that set this story going (the gateway's X-Request-Id), carried by every
    # event it causes, so one id finds a save's whole trail in every service's logs.
    request_id: str | None = None
    data: dict[str, Any]

    def payload(self) -> Any:
        """The typed data model of this event."""
        return DATA_MODELS[self.type].model_validate(self.data)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def new_event(
    type: str,
    data: BaseModel | dict,
    *,
    producer_id: str,
    track_id: str | None = None,
    collection_id: str | None = None,
    attempt: int | None = None,
    id: str | None = None,
    caused_by: Event | None = None,
    request_id: str | None = None,
) -> Event:
    """Build a validated event.

    ``caused_by`` makes the id deterministic (uuid5 of the cause's id and this type), so a
    stateless worker that handles a redelivered event publishes the same event again and
    consumers can drop the repeat by id. It also carries the cause's ``attempt`` (the track's
    submission number) so results of an earlier submission are recognised as stale.

    ``request_id`` defaults to the cause's, else to the request id of the current log context (a
    gateway request, or the event a handler is working on), so it travels without being passed.
    """
    if attempt is None:
        attempt = caused_by.attempt if caused_by else 0
    if request_id is None:
        request_id = caused_by.request_id if caused_by else current_field("request_id")
    if type not in DATA_MODELS:
        raise MalformedEvent(f"unknown event type {type!r}")
    raw = data.model_dump(mode="json", by_alias=True) if isinstance(data, BaseModel) else data
    try:
        DATA_MODELS[type].model_validate(raw)
    except ValidationError as exc:
        raise MalformedEvent(f"invalid {type} data: {exc}") from exc
    if id is None:
        id = str(uuid.uuid5(uuid.UUID(caused_by.id), type)) if caused_by else str(uuid.uuid4())
    return Event(
        id=id,
        type=type,
        occurred_at=datetime.now(UTC),
        producer_id=producer_id,
        track_id=track_id,
        collection_id=collection_id,
        attempt=attempt,
        request_id=request_id,
        data=raw,
    )


def parse_event(body: bytes | str | dict) -> Event:
    """Decode and validate a message body, envelope and data; raise MalformedEvent otherwise."""
    try:
        raw = body if isinstance(body, dict) else json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MalformedEvent("body is not a JSON object")
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        raise MalformedEvent(f"invalid envelope: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from exc
    if event.type not in DATA_MODELS:
        raise MalformedEvent(f"unknown event type {event.type!r}")
    if event.version != SCHEMA_VERSION:
        raise MalformedEvent(f"unsupported version {event.version} of {event.type}")
    try:
        event.payload()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise MalformedEvent(f"invalid {event.type} data at {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    return event
