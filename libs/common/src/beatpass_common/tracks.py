"""The track vocabulary every service shares: statuses, processing steps, and the track document.

The catalog keeps tracks in these statuses and steps; the gateway filters lists by them, shows a
track it accepted before the catalog has recorded it, and describes the document in its OpenAPI
document. All of them read the names and the document's shape from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

TrackStatus = Literal["processing", "ready", "rejected", "failed", "in_review", "replaced"]
STATUSES: tuple[str, ...] = get_args(TrackStatus)
# Still waiting for a verdict: its steps run (processing) or a person decides (in_review).
UNSETTLED: tuple[str, ...] = ("processing", "in_review")

StepName = Literal["validation", "waveform", "fingerprint"]
STEPS: tuple[StepName, ...] = get_args(StepName)  # in the order they run
StepState = Literal["pending", "running", "done", "failed"]

# ISO 8601 with its offset, as datetime.isoformat() writes it ("...+00:00").
Timestamp = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str)]


class StepView(BaseModel):
    state: StepState = "pending"
    attempts: int = 0
    error: str | None = Field(None, description="the producer's sentence when the step failed")
    reason: str | None = Field(
        None, description="why it failed: error, timeout, memory, worker_died, unreadable, not_started"
    )
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    deadline_at: Timestamp | None = None


class DuplicateView(BaseModel):
    """The match that held a track back; another producer's is described without its id."""

    kind: str | None = None
    score: float | None = None
    offset_s: float | None = None
    decision: str | None = None
    own: bool = False
    # kind "shifted": the estimated pitch shift (semitones) and tempo ratio of this copy
    pitch_semitones: float | None = None
    tempo_ratio: float | None = None
    track_id: str | None = None
    title: str | None = None


class TrackView(BaseModel):
    """A track as producers read it (``GET /api/v1/tracks/{id}``; the catalog's view, which the
    gateway relays and adds ``audio`` to). Links in ``cover`` and ``waveform`` are gateway paths."""

    model_config = ConfigDict(extra="forbid")
    id: str
    status: TrackStatus
    collection_id: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="the saved fields: title, artists, bpm, ...")
    submission: int = Field(0, description="which submission of the track this is (a retry adds one)")
    steps: dict[StepName, StepView] = Field(default_factory=lambda: {name: StepView() for name in STEPS})
    errors: list[dict[str, Any]] = Field(default_factory=list, description="why it was rejected: code, field, message")
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    facts: dict[str, Any] | None = Field(None, description="what validation measured: duration, loudness, bpm, ...")
    cover: dict[str, str] = Field(default_factory=dict, description="size -> link of the cover art derivative")
    waveform: dict[str, Any] | None = Field(None, description="samples_per_pixel, bits and a link per format")
    duplicate: DuplicateView | None = None
    dispute: dict[str, Any] | None = None
    replaces_track_id: str | None = None
    replaced_by: str | None = None
    edit: int = Field(0, description="the producer's last edit shown here (0: none)")
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    version: int = 0

    def document(self) -> dict[str, Any]:
        """The JSON document (datetimes as ISO 8601 text)."""
        return self.model_dump(mode="json")
