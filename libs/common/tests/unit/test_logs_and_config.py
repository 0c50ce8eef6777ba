import json
import logging

from beatpass_common.config import Settings
from beatpass_common.events import new_event, parse_event
from beatpass_common.logs import JsonFormatter, event_context


def test_json_logs_carry_event_track_and_producer(caplog):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "handled %s", ("it",), None)
    event = new_event("track.ready", {"title": "t"}, producer_id="p1", track_id="t1")
    with event_context(event):
        line = json.loads(JsonFormatter("catalog").format(record))
    assert line["msg"] == "handled it" and line["service"] == "catalog"
    assert (line["event_id"], line["track_id"], line["producer_id"]) == (event.id, "t1", "p1")
    outside = json.loads(JsonFormatter("catalog").format(record))
    assert "event_id" not in outside


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BEATPASS_BUS_URL", "amqp://u:p@h:5672/v")
    monkeypatch.setenv("BEATPASS_RETRY_DELAYS_S", "[1, 2]")
    monkeypatch.setenv("BEATPASS_VAR_DIR", str(tmp_path))
    s = Settings()
    assert s.bus_url == "amqp://u:p@h:5672/v" and s.retry_delays_s == [1.0, 2.0]
    assert s.database_url("catalog") == f"sqlite:///{tmp_path}/catalog.db"
    assert s.resolved_storage_url() == f"file://{tmp_path}/objects"


def test_a_request_id_travels_from_the_request_into_every_event_it_causes_and_their_log_lines():
    from beatpass_common.logs import bind, unbind

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "handled", (), None)
    token = bind(request_id="req-1.a_b")  # what the gateway binds for the request
    try:
        submitted = new_event("track.ready", {"title": "t"}, producer_id="p1", track_id="t1")
    finally:
        unbind(token)
    assert submitted.request_id == "req-1.a_b"
    caused = new_event("track.removed", {"reason": "rejected"}, producer_id="p1", track_id="t1", caused_by=submitted)
    assert caused.request_id == "req-1.a_b"  # propagated, not taken from an (empty) context
    with event_context(caused):
        line = json.loads(JsonFormatter("catalog").format(record))
        # a handler's own events, made without caused_by, still carry it
        assert new_event("track.ready", {"title": "t"}, producer_id="p1").request_id == "req-1.a_b"
    assert (line["request_id"], line["event_id"]) == ("req-1.a_b", caused.id)
    assert new_event("track.ready", {"title": "t"}, producer_id="p1").request_id is None
    assert parse_event(caused.to_json()).request_id == "req-1.a_b"
    old = json.loads(caused.to_json())
    del old["request_id"]  # an event from before request ids still parses
    assert parse_event(old).request_id is None
