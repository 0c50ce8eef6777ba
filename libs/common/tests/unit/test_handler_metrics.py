"""The runtime, not the handlers, keeps the handlers' metrics: per handler function its runs by
result and duration, and what the events it published say (outcome, problem codes)."""

from __future__ import annotations

import time
from functools import partial

from prometheus_client import REGISTRY

from beatpass_common.bus import Bus
from beatpass_common.events import Problem, TrackRejected, TrackReady, new_event


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def handle_ready(event, *, publish, fail: bool):
    if fail:
        raise RuntimeError("our fault")
    publish(new_event("track.rejected", TrackRejected(errors=[Problem(code="AUDIO_NOT_WAV", field="audio",
                                                                       message="not a WAV")]),
                      caused_by=event, producer_id=event.producer_id, track_id=event.track_id))


def test_runs_outcomes_and_problems_of_a_handler_are_recorded_by_the_bus(settings):
    settings = settings.model_copy(update={"retry_delays_s": [60.0]})
    bus = Bus(settings, "upload")
    observed = []
    bus.observers.append(observed.append)
    bus.subscribe("upload.outcomes", {"track.ready": lambda e: handle_ready(e, publish=bus.publish, fail=False),
                                      "track.failed": partial(handle_ready, publish=bus.publish, fail=True)})
    runs = "beatpass_upload_handler_run_seconds_count"
    before = (_sample(runs, handler="<lambda>", result="ok"), _sample(runs, handler="handle_ready", result="error"),
              _sample("beatpass_upload_outcomes_total", outcome="rejected"),
              _sample("beatpass_upload_problems_total", code="AUDIO_NOT_WAV"))
    bus.start()
    try:
        assert bus.wait_ready(10)
        bus.publish(new_event("track.ready", TrackReady(title="t"), producer_id="p", track_id="t1"))
        bus.publish(new_event("track.failed", {"step": "waveform", "message": "x"}, producer_id="p", track_id="t2"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _sample(runs, handler="handle_ready", result="error") == before[1]:
            time.sleep(0.02)
        while time.monotonic() < deadline and _sample(runs, handler="<lambda>", result="ok") == before[0]:
            time.sleep(0.02)
    finally:
        bus.stop()
    assert _sample(runs, handler="<lambda>", result="ok") == before[0] + 1
    assert _sample(runs, handler="handle_ready", result="error") == before[1] + 1  # named through the partial
    # counted once: the two events published from the test's own thread are no handler's
    assert _sample("beatpass_upload_outcomes_total", outcome="rejected") == before[2] + 1
    assert _sample("beatpass_upload_problems_total", code="AUDIO_NOT_WAV") == before[3] + 1
    assert [e.type for e in observed] == ["track.rejected"]
