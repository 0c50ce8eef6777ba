"""The wired service on the in-memory bus: submissions come back as validated or rejected events,
bad input never as a retry or a dead letter."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from beatpass_common.testing.bus import take_events
from beatpass_validation.service import build


@pytest.fixture
def running(settings, store):
    runtime = build(settings)
    runtime.start(serve_http=False)
    yield runtime
    runtime.stop()


def next_catalog_event(settings, track_id: str, timeout: float = 30.0):
    outcomes = ("track.validated", "track.rejected", "step.failed")
    (event,) = take_events(
        settings.bus_url, "catalog.records", lambda e: e.track_id == track_id and e.type in outcomes, timeout=timeout
    ) or [None]
    assert event is not None, f"no outcome for {track_id} on catalog.records"
    return event


def counter(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_submissions_come_back_validated_or_rejected(running, settings, store, gen):
    before = counter("beatpass_validation_problems_total", code="AUDIO_NOT_WAV")
    assert (settings.var_dir / "objects" / settings.media_bucket).is_dir()
    ok = gen.submitted(store, settings, gen.wav(gen.music(10.5)), gen.image(), track_id="svc-ok")
    bad = gen.submitted(store, settings, b"\x00" * 1000, b"GIF89a" + b"\x00" * 100, track_id="svc-bad")
    running.bus.publish(ok)
    running.bus.publish(bad)
    validated = next_catalog_event(settings, "svc-ok")
    assert validated.type == "track.validated"
    rejected = next_catalog_event(settings, "svc-bad")
    assert rejected.type == "track.rejected"
    assert [e.code for e in rejected.payload().errors] == ["AUDIO_NOT_WAV", "COVER_NOT_JPEG_OR_PNG"]
    deadline = time.monotonic() + 5  # counted just after publishing, so possibly after we read the event
    while (
        counter("beatpass_validation_problems_total", code="AUDIO_NOT_WAV") < before + 1 and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    assert counter("beatpass_validation_problems_total", code="AUDIO_NOT_WAV") == before + 1
    assert counter("beatpass_validation_outcomes_total", outcome="validated") >= 1
