"""The wired service on the in-memory bus: a validated track becomes waveform.generated, and
audio that cannot be read is retried and then reported as step.failed."""

from __future__ import annotations

import numpy as np
import pytest

from beatpass_common.events import AudioFacts, CoverFacts, ObjectRef, TrackValidated, new_event
from beatpass_common.storage import LocalStore
from beatpass_common.testing.bus import take_events
from beatpass_waveform.service import build


@pytest.fixture
def running(settings):
    store = LocalStore(settings.var_dir / "objects")
    runtime = build(settings)
    runtime.start(serve_http=False)
    yield runtime, store
    runtime.stop()


def publish_validated(runtime, store, settings, track_id: str, audio: bytes):
    store.ensure_bucket(settings.uploads_bucket)
    key = f"producers/p-9/uploads/{track_id}"
    put = store.put_bytes(settings.uploads_bucket, key, audio)
    data = TrackValidated(
        source=ObjectRef(bucket=settings.uploads_bucket, key=key, size=put.size),
        audio=AudioFacts(format="WAV", sample_rate=8000, bit_depth=16, channels=1, duration_s=1),
        cover=CoverFacts(format="PNG", width=1000, height=1000),
    )
    event = new_event("track.validated", data, producer_id="p-9", track_id=track_id)
    runtime.bus.publish(event)
    return event


def next_catalog_event(settings, wanted, timeout=10.0):
    """The first event on the catalog's queue (where the waveform's results go) that ``wanted`` accepts."""
    (event,) = take_events(settings.bus_url, "catalog.records", wanted, timeout=timeout) or [None]
    assert event is not None, "no matching event on catalog.records"
    return event


def test_validated_track_becomes_waveform_generated(running, settings, make_wav):
    runtime, store = running
    assert (settings.var_dir / "objects" / settings.media_bucket).is_dir()  # build ensured the bucket
    audio = make_wav(np.tile(np.array([[1000], [-1000]], np.int16), (4000, 1)), sample_rate=8000)
    cause = publish_validated(runtime, store, settings, "trk-svc-ok", audio)
    event = next_catalog_event(settings, lambda e: e.type == "waveform.generated" and e.track_id == "trk-svc-ok")
    assert event.id == new_event("waveform.generated", event.data, producer_id="p-9", caused_by=cause).id
    assert store.exists(settings.media_bucket, "tracks/trk-svc-ok/waveform.png")


def test_unreadable_audio_is_parked_at_once_and_reported(running, settings):
    runtime, store = running
    publish_validated(runtime, store, settings, "trk-svc-bad", b"RIFF\x04\x00\x00\x00WAVE")
    event = next_catalog_event(settings, lambda e: e.type == "step.failed" and e.track_id == "trk-svc-bad")
    failed = event.payload()
    assert failed.step == "waveform"
    assert (
        failed.attempts == 1 and failed.reason == "unreadable" and failed.parked
    )  # parked at once: a retry cannot help
    assert "Unreadable" in failed.error
