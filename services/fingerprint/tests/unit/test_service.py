from sqlalchemy import create_engine, inspect

from beatpass_fingerprint.service import build


def test_build_migrates_and_reports_ready(settings):
    runtime = build(settings)
    runtime.start(serve_http=False)
    try:
        assert runtime.readiness() == {"started": True, "bus": True, "database": True}
        tables = set(inspect(create_engine(settings.database_url("fingerprint"))).get_table_names())
        assert {"fingerprints", "fingerprint_index", "outbox"} <= tables
        (consumer,) = runtime.bus.consumers
        assert consumer.spec.name == "fingerprint.tracks"
        assert set(consumer.sub.handlers) == set(consumer.spec.event_types)
    finally:
        runtime.stop()
