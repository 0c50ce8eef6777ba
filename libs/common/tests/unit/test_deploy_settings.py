"""The settings a Kubernetes deployment relies on: credentials apart from URLs, TLS options handed
to kombu/minio/libpq, the ops port, pool sizes and the schema step of a pod's start."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from datetime import UTC

import pytest
from sqlalchemy import text

from beatpass_common import schema
from beatpass_common.config import Settings, with_credentials
from beatpass_common.db import make_engine
from beatpass_common.runner import Runtime
from beatpass_common.storage import open_store
from beatpass_common.testing import infra


def test_credentials_replace_the_urls_user_and_password_percent_encoded(monkeypatch):
    monkeypatch.setenv("BEATPASS_BUS_URL", "amqps://old:x@beatpass-rabbitmq.beatpass-data.svc:5671/beatpass")
    monkeypatch.setenv("BEATPASS_BUS_USERNAME", "beatpass-catalog")
    monkeypatch.setenv("BEATPASS_BUS_PASSWORD", "p@ss:/w?rd")
    monkeypatch.setenv("BEATPASS_STORAGE_URL", "https://minio.beatpass-data.svc:443")
    monkeypatch.setenv("BEATPASS_STORAGE_ACCESS_KEY", "beatpass-catalog")
    monkeypatch.setenv("BEATPASS_STORAGE_SECRET_KEY", "s3cr#t")
    monkeypatch.setenv(
        "BEATPASS_CATALOG_DATABASE_URL", "postgresql+psycopg://pooler:5432/beatpass_catalog?sslmode=require"
    )
    monkeypatch.setenv("BEATPASS_DATABASE_USERNAME", "beatpass_catalog")
    monkeypatch.setenv("BEATPASS_DATABASE_PASSWORD", "pw%1")
    s = Settings()
    assert s.bus_url == "amqps://beatpass-catalog:p%40ss%3A%2Fw%3Frd@beatpass-rabbitmq.beatpass-data.svc:5671/beatpass"
    assert s.storage_url == "https://beatpass-catalog:s3cr%23t@minio.beatpass-data.svc:443"
    assert (
        s.database_url("catalog")
        == "postgresql+psycopg://beatpass_catalog:pw%251@pooler:5432/beatpass_catalog?sslmode=require"
    )
    assert s.upload_database_url == ""  # an unset URL stays unset (SQLite default)


def test_credentials_unset_leave_urls_alone():
    assert with_credentials("amqp://u:p@h/v", "", "") == "amqp://u:p@h/v"
    assert with_credentials("", "u", "p") == ""
    assert Settings(bus_url="amqp://u:p@h:5672/v").bus_url == "amqp://u:p@h:5672/v"


def test_bus_tls_option_follows_the_scheme_and_ca_file():
    assert Settings(bus_url="amqp://h/v").bus_ssl() is False
    assert Settings(bus_url="amqps://h/v").bus_ssl() is True  # verified against the system's CAs
    opts = Settings(bus_url="amqps://h/v", tls_ca_file="/etc/beatpass/ca/ca.crt").bus_ssl()
    assert opts == {"ca_certs": "/etc/beatpass/ca/ca.crt", "cert_reqs": ssl.CERT_REQUIRED}


def test_bus_tls_option_reaches_kombu():
    from beatpass_common.bus.kombu_bus import _connect

    conn = _connect("amqps://u:p@127.0.0.1:5671/v", 30, {"ca_certs": "/ca.pem", "cert_reqs": ssl.CERT_REQUIRED})
    assert conn.ssl == {"ca_certs": "/ca.pem", "cert_reqs": ssl.CERT_REQUIRED}
    assert conn.transport.client.ssl == conn.ssl  # what py-amqp's SSLTransport is built from


def test_s3_client_verifies_https_against_the_ca_file(tmp_path):
    store = open_store("https://k:s@minio.example:443", ca_file="/etc/beatpass/ca/ca.crt")
    pool = store.client._http
    assert pool.connection_pool_kw["ca_certs"] == "/etc/beatpass/ca/ca.crt"
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert store.client._base_url.is_https


def test_database_tls_parameters_reach_libpq():
    """sslmode/sslrootcert in the URL go to libpq as they are: with a CA file that does not exist,
    libpq refuses before any query (the local test server may or may not speak TLS)."""
    admin_url, _ = infra.postgres_admin_url()
    url = admin_url + ("&" if "?" in admin_url else "?") + "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt"
    engine = make_engine(url, pool_size=1, max_overflow=0)
    with pytest.raises(Exception) as err, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    message = str(err.value)
    assert "/nonexistent/ca.crt" in message or "does not support SSL" in message, message
    engine.dispose()


def test_pool_sizes_reach_the_engine():
    s = Settings(database_pool_size=3, database_max_overflow=2)
    engine = make_engine("postgresql+psycopg://u:p@127.0.0.1:1/x", **s.database_pool())
    assert (engine.pool.size(), engine.pool._max_overflow) == (3, 2)


def _get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_ops_routes_answer_only_on_the_ops_port(tmp_path):
    from flask import Flask

    api, ops = infra.free_port(), infra.free_port()
    app = Flask("t")
    app.get("/api/v1/ping")(lambda: "pong")
    rt = Runtime("catalog", Settings(var_dir=tmp_path, http_port=api, ops_port=ops), app=app)
    rt.start()
    try:
        assert _get(api, "/api/v1/ping") == 200
        for path in ("/metrics", "/healthz", "/readyz"):
            assert _get(ops, path) == 200, path
            assert _get(api, path) == 404, path  # what an Ingress routes never shows them
        assert _get(ops, "/api/v1/ping") == 404
        # a Host header naming the ops port changes nothing: the socket's port decides
        req = urllib.request.Request(f"http://127.0.0.1:{api}/metrics", headers={"Host": f"127.0.0.1:{ops}"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 404
    finally:
        rt.stop()


def test_without_ops_port_the_api_port_serves_them(tmp_path):
    port = infra.free_port()
    rt = Runtime("waveform", Settings(var_dir=tmp_path, http_port=port))
    rt.start()
    try:
        assert _get(port, "/healthz") == 200 and _get(port, "/metrics") == 200
    finally:
        rt.stop()


def test_schema_step_upgrades_when_migrating_on_start(tmp_path):
    s = Settings(var_dir=tmp_path, catalog_database_url=f"sqlite:///{tmp_path}/c.db", migrate_on_start=True)
    ok, sentence = schema.ensure("catalog", s)
    assert ok and sentence == "beatpass-catalog: database upgraded to head"
    # then a pod that only waits finds the head at once
    ok, sentence = schema.ensure("catalog", s.model_copy(update={"migrate_on_start": False}))
    assert ok and sentence.startswith("beatpass-catalog: database at ")


def test_schema_step_gives_up_after_the_wait_with_a_sentence(tmp_path):
    s = Settings(
        var_dir=tmp_path, upload_database_url=f"sqlite:///{tmp_path}/u.db", migrate_on_start=False, migration_wait_s=0.3
    )
    ok, sentence = schema.ensure("upload", s, poll_s=0.1)
    assert not ok
    assert sentence.startswith("beatpass-upload: database at None, this image needs ")
    assert "did not finish within BEATPASS_MIGRATION_WAIT_S (0.3 s)" in sentence


def test_schema_cli_refuses_a_service_without_database(capsys):
    assert schema.main(["waveform"]) == 2
    assert "usage: python -m beatpass_common.schema {upload,fingerprint,catalog}" in capsys.readouterr().err


def test_outbox_backlog_is_measured_for_the_lag_panel_and_alert(tmp_path):
    from datetime import datetime, timedelta

    from sqlalchemy.orm import DeclarativeBase

    from beatpass_common.db import session_factory, transaction
    from beatpass_common.outbox import OLDEST, PENDING, Outbox, outbox_model

    class Base(DeclarativeBase):
        pass

    model = outbox_model(Base)
    engine = make_engine(f"sqlite:///{tmp_path}/o.db")
    Base.metadata.create_all(engine)
    factory = session_factory(engine)
    published = []
    outbox = Outbox(model, factory, published.append)
    outbox.service = "catalog"  # named after the model's package (beatpass_catalog.models -> catalog)
    assert outbox.measure() == (0, 0.0)
    with transaction(factory) as session:
        session.add(
            model(
                event_id="e1",
                type="track.removed",
                body="{}",
                published_at=None,
                created_at=datetime.now(UTC) - timedelta(seconds=90),
            )
        )
    count, age = outbox.measure()
    assert count == 1 and 89 <= age < 120
    assert PENDING.labels("catalog")._value.get() == 1 and OLDEST.labels("catalog")._value.get() >= 89
    with transaction(factory) as session:
        session.query(model).update({"published_at": datetime.now(UTC)})
    assert outbox.measure() == (0, 0.0)
    assert OLDEST.labels("catalog")._value.get() == 0
