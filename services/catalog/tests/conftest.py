"""Catalog fixtures: handler dependencies on a real database, and event builders."""

from __future__ import annotations

import uuid

import pytest

from beatpass_catalog.handlers import Deps, handle
from beatpass_catalog.service import build_deps
from beatpass_common.events import Event, new_event

REF = {"bucket": "b", "key": "k", "size": 10}
META = {"title": "Night Drive", "artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "exclusive"}
FACTS = {"format": "WAV", "sample_rate": 44100, "bit_depth": 16, "channels": 2, "duration_s": 12.0}


class Events:
    """Builds the events one track's journey produces."""

    def __init__(self, producer="p1", track_id=None, collection_id=None, attempt=0):
        self.producer = producer
        self.track_id = track_id or str(uuid.uuid4())
        self.collection_id = collection_id
        self.attempt = attempt

    def _e(self, type_, data) -> Event:
        return new_event(
            type_,
            data,
            producer_id=self.producer,
            track_id=self.track_id,
            collection_id=self.collection_id,
            attempt=self.attempt,
        )

    def submitted(self, replaces=None, **meta):
        return self._e(
            "track.submitted", {"audio": REF, "cover": REF, "metadata": {**META, **meta}, "replaces_track_id": replaces}
        )

    def validated(self, warnings=()):
        return self._e(
            "track.validated",
            {
                "source": REF,
                "audio": FACTS,
                "cover": {"format": "JPEG", "width": 1000, "height": 1000},
                "cover_images": {"large": REF},
                "warnings": list(warnings),
            },
        )

    def rejected(self, code="AUDIO_TOO_SHORT", message="Too short."):
        return self._e(
            "track.rejected", {"errors": [{"code": code, "field": "audio", "message": message}], "step": "validation"}
        )

    def waveform(self):
        return self._e("waveform.generated", {"json": REF, "dat": REF, "png": REF, "samples_per_pixel": 256})

    def fingerprint(self, duplicate=None):
        return self._e("fingerprint.completed", {"duration_s": 12.0, "duplicate": duplicate})

    def step_failed(self, step="waveform", attempts=3, reason="error", parked=False, error="boom"):
        return self._e(
            "step.failed", {"step": step, "error": error, "attempts": attempts, "reason": reason, "parked": parked}
        )

    def started(self, step="validation"):
        return self._e("step.started", {"step": step})


@pytest.fixture
def published():
    return []


@pytest.fixture
def deps(settings, published) -> Deps:
    d = build_deps(settings, published.append)
    return d


@pytest.fixture
def apply(deps):
    def _apply(*events):
        for event in events:
            handle(event, deps=deps)
        deps.outbox.relay_once()

    return _apply


@pytest.fixture
def events():
    return Events
