from sqlalchemy import create_engine, inspect

from beatpass_fingerprint.service import build


def test_build_migrates_and_reports_ready(settings):
    runtime = build(settings)
    runtime.start(serve_http=False)
    try:
        assert runtime.readiness() == {"started": True, "bus": True, "database": True}
        tables = set(inspect(create_engine(settings.database_url("fingerprint"))).get_table_names())
        assert {"fingerprints", "fingerprint_index", "outbox"} <= tables
        assert [c.spec.name for c in runtime.bus.consumers] == ["fingerprint.tracks"]
    finally:
        runtime.stop()
