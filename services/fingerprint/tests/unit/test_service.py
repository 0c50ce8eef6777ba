"""The wired service on the in-memory bus: migrations at build, readiness, and validated tracks
becoming fingerprint.completed on the catalog's queue through the outbox relay."""

from sqlalchemy import create_engine, inspect

from beatpass_common.events import AudioFacts, CoverFacts, ObjectRef, TrackValidated, new_event
from beatpass_common.storage import LocalStore
from beatpass_common.testing.bus import take_events
from beatpass_fingerprint.service import build


def catalog_events(settings, count, timeout=20.0):
    """The first ``count`` fingerprint.completed events on the catalog's queue."""
    return take_events(
        settings.bus_url, "catalog.records", lambda e: e.type == "fingerprint.completed", count=count, timeout=timeout
    )


def test_build_migrates_and_reports_ready(settings):
    runtime = build(settings)
    runtime.start(serve_http=False)
    try:
        assert runtime.readiness() == {"started": True, "bus": True, "database": True}
        tables = set(inspect(create_engine(settings.database_url("fingerprint"))).get_table_names())
        assert {"fingerprints", "fingerprint_postings", "outbox"} <= tables
        (consumer,) = runtime.bus.consumers
        assert consumer.spec.name == "fingerprint.tracks"
        assert set(consumer.sub.handlers) == set(consumer.spec.event_types)
    finally:
        runtime.stop()


def test_validated_tracks_become_fingerprint_completed(settings, evalset):
    store = LocalStore(str(settings.var_dir / "objects"))
    store.ensure_bucket(settings.uploads_bucket)
    runtime = build(settings)
    runtime.start(serve_http=False)
    try:
        data = evalset.originals["beat2"]
        for track_id in ("first", "second"):
            store.put_bytes(settings.uploads_bucket, f"u/{track_id}", data)
            validated = TrackValidated(
                source=ObjectRef(bucket=settings.uploads_bucket, key=f"u/{track_id}", size=len(data)),
                audio=AudioFacts(format="wav", sample_rate=44100, bit_depth=16, channels=2, duration_s=60),
                cover=CoverFacts(format="jpeg", width=1000, height=1000),
            )
            runtime.bus.publish(new_event("track.validated", validated, producer_id="p1", track_id=track_id))
            (event,) = catalog_events(settings, 1)
            assert event.track_id == track_id
        assert event.payload().duplicate.track_id == "first"
    finally:
        runtime.stop()
