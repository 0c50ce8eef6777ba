"""The runtime, not the handlers, keeps the handlers' metrics: per handler function its runs by
result and duration, and what the events it published say (outcome, problem codes)."""

from __future__ import annotations

import time
from functools import partial

from prometheus_client import REGISTRY

from beatpass_common.bus import Bus
from beatpass_common.events import Problem, TrackReady, TrackRejected, new_event


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def reject_it(event, *, publish, seen: list):
    seen.append(event.id)
    publish(
        new_event(
            "track.rejected",
            TrackRejected(errors=[Problem(code="AUDIO_NOT_WAV", field="audio", message="not a WAV")]),
            caused_by=event,
            producer_id=event.producer_id,
            track_id=event.track_id,
        )
    )


def fail_it(event, *, seen: list):
    seen.append(event.id)
    raise RuntimeError("our fault")


def test_runs_outcomes_and_problems_of_a_handler_are_recorded_by_the_bus(settings):
    # The in-memory broker is the process's: a message another test left on the queue is handled
    # here too, so the deltas are compared with what the handlers saw.
    settings = settings.model_copy(update={"retry_delays_s": [60.0]})
    bus = Bus(settings, "upload")
    observed, rejected, failed = [], [], []
    bus.observers.append(observed.append)
    bus.subscribe(
        "upload.outcomes",
        {
            "track.ready": lambda e: reject_it(e, publish=bus.publish, seen=rejected),
            "track.failed": partial(fail_it, seen=failed),
        },
    )
    runs = "beatpass_upload_handler_run_seconds_count"
    before = (
        _sample(runs, handler="<lambda>", result="ok"),
        _sample(runs, handler="fail_it", result="error"),
        _sample("beatpass_upload_outcomes_total", outcome="rejected"),
        _sample("beatpass_upload_problems_total", code="AUDIO_NOT_WAV"),
    )
    bus.start()
    try:
        assert bus.wait_ready(10)
        ready = new_event("track.ready", TrackReady(title="t"), producer_id="p", track_id="t1")
        broken = new_event("track.failed", {"step": "waveform", "message": "x"}, producer_id="p", track_id="t2")
        bus.publish(ready)
        bus.publish(broken)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            ready.id in rejected
            and broken.id in failed
            and _sample(runs, handler="fail_it", result="error") > before[1]
            and _sample(runs, handler="<lambda>", result="ok") > before[0]  # counted after the handler returned
        ):
            time.sleep(0.02)
    finally:
        bus.stop()
    assert _sample(runs, handler="<lambda>", result="ok") == before[0] + len(rejected)
    assert _sample(runs, handler="fail_it", result="error") == before[1] + len(failed)  # named through the partial
    # the events published from the test's own thread are no handler's: only the rejections count
    assert _sample("beatpass_upload_outcomes_total", outcome="rejected") == before[2] + len(rejected)
    assert _sample("beatpass_upload_problems_total", code="AUDIO_NOT_WAV") == before[3] + len(rejected)
    assert [e.type for e in observed] == ["track.rejected"] * len(rejected) and ready.id in rejected
