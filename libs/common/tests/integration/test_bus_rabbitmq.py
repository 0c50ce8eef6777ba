"""The bus against a real RabbitMQ: confirms, retry then dead-letter, malformed messages,
redelivery after a consumer dies without acking, and a dropped broker connection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from kombu import Connection

from beatpass_common.bus import Bus, topology
from beatpass_common.events import TrackReady, new_event, parse_event
from beatpass_common.testing import infra

pytestmark = pytest.mark.integration


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _drain(url, queue, timeout=5.0):
    """All messages in ``queue`` (consumed and acked), as (body, headers)."""
    out = []
    with Connection(url) as conn:
        channel = conn.channel()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = channel.basic_get(queue)
            if msg is None:
                if out:
                    break
                time.sleep(0.1)
                continue
            out.append((msg.body, msg.headers))
            channel.basic_ack(msg.delivery_tag)
    return out


@pytest.fixture
def bus_settings(settings, clean_amqp):
    return settings.model_copy(update={"bus_url": clean_amqp, "retry_delays_s": [0.2, 0.4]})


def _ready_event(title="t"):
    return new_event("track.ready", TrackReady(title=title), producer_id="p1", track_id="t1")


def test_publish_confirmed_and_consumed_once(bus_settings):
    seen = []
    bus = Bus(bus_settings, "upload")
    bus.subscribe(
        "upload.outcomes", {"track.ready": seen.append, "track.rejected": seen.append, "track.failed": seen.append}
    )
    bus.start()
    try:
        assert bus.wait_ready(10)
        event = _ready_event()
        bus.publish(event)
        assert _wait(lambda: len(seen) == 1)
        assert seen[0] == event
        marker = _ready_event("marker")  # published after: once it is in, a second delivery would be too
        bus.publish(marker)
        assert _wait(lambda: marker in seen)
        assert seen == [event, marker]
    finally:
        bus.stop()


def test_the_events_exchange_is_the_settings_one(bus_settings):
    """BEATPASS_EXCHANGE names the exchange events travel through; nothing goes via the default."""
    settings = bus_settings.model_copy(update={"exchange": "beatpass.events-under-test"})
    seen = []
    bus = Bus(settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": seen.append})
    bus.start()
    try:
        assert bus.wait_ready(10)
        bus.publish(_ready_event())
        assert _wait(lambda: len(seen) == 1)
        with Connection(settings.bus_url) as conn:  # declared by the bus: passive declare succeeds
            topology.events_exchange("beatpass.events-under-test")(conn.default_channel).declare(passive=True)
        bus.publisher.publish_raw(_ready_event("via default").to_json(), topology.EVENTS, "track.ready", {})
        bus.publish(_ready_event("marker"))  # sent after it on the same channel: routed, it would be in first
        assert _wait(lambda: len(seen) == 2)
        assert [e.data["title"] for e in seen] == ["t", "marker"]  # the queue is bound to the settings' exchange only
    finally:
        bus.stop()


def test_failure_retries_with_backoff_then_dead_letters_and_reports(bus_settings):
    calls = []

    def flaky(event):
        calls.append(time.monotonic())
        raise RuntimeError("storage unavailable")

    step_failed = []
    bus = Bus(bus_settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": flaky})
    catalog = Bus(bus_settings, "catalog")
    catalog.subscribe("catalog.records", {"step.failed": step_failed.append})
    bus.start()
    catalog.start()
    try:
        bus.publish(_ready_event())
        assert _wait(lambda: len(step_failed) == 1)
        assert len(calls) == 3  # first try + two retries
        assert calls[1] - calls[0] >= 0.18 and calls[2] - calls[1] >= 0.38
        failed = step_failed[0].payload()
        assert failed.attempts == 3 and "storage unavailable" in failed.error and failed.step == "upload"
        dead = _drain(bus_settings.bus_url, "upload.dead")
        assert len(dead) == 1
        assert parse_event(dead[0][0]).type == "track.ready"
        assert "storage unavailable" in dead[0][1]["x-beatpass-dead-reason"]
    finally:
        bus.stop()
        catalog.stop()


def test_malformed_message_is_dead_lettered_with_reason_and_consumer_survives(bus_settings):
    seen = []
    bus = Bus(bus_settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": seen.append})
    bus.start()
    try:
        bus.publisher.publish_raw(b'{"not": "an event"}', topology.EVENTS, "track.ready", {})
        bus.publisher.publish_raw(b"\xff\xfe garbage", topology.EVENTS, "track.ready", {})
        good = _ready_event()
        bus.publish(good)
        assert _wait(lambda: len(seen) == 1)
        dead = _drain(bus_settings.bus_url, "upload.dead")
        assert len(dead) == 2
        assert all(h["x-beatpass-dead-reason"].startswith("malformed:") for _, h in dead)
    finally:
        bus.stop()


CHILD = textwrap.dedent("""
    import os, sys, time
    from beatpass_common.bus import Bus
    from beatpass_common.config import Settings
    settings = Settings(bus_url=sys.argv[1], prefetch=1)
    def die(event):
        print("got", event.id, flush=True)
        os._exit(9)  # the process dies mid-message: no ack
    bus = Bus(settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": die})
    bus.start()
    time.sleep(60)
""")


def test_message_redelivered_after_consumer_process_dies_without_ack(bus_settings, tmp_path):
    setup = Bus(bus_settings, "upload")
    setup.declare()
    event = _ready_event()
    setup.publish(event)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, bus_settings.bus_url], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 9 and f"got {event.id}" in child.stdout
    seen = []
    bus = Bus(bus_settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": seen.append})
    bus.start()
    try:
        assert _wait(lambda: len(seen) == 1)
        assert seen[0].id == event.id
    finally:
        bus.stop()
        setup.stop()


def test_consumer_and_publisher_recover_when_broker_drops_connections(bus_settings):
    seen = []
    bus = Bus(bus_settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": seen.append})
    bus.start()
    try:
        bus.publish(_ready_event("before"))
        assert _wait(lambda: len(seen) == 1)
        assert infra.close_amqp_connections(bus_settings.bus_url), "rabbitmqctl could not drop connections"
        time.sleep(1.0)
        bus.publish(_ready_event("after"))  # the publisher reconnects and gets its confirm
        assert _wait(lambda: len(seen) == 2, 30)
        assert seen[1].payload().title == "after"
    finally:
        bus.stop()


def test_sigterm_drains_message_in_hand(bus_settings):
    started, finished = threading.Event(), threading.Event()

    def slow(event):
        started.set()
        time.sleep(1.0)
        finished.set()

    bus = Bus(bus_settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": slow})
    bus.start()
    bus.publish(_ready_event())
    assert started.wait(10)
    bus.stop(grace_s=10)  # what the runner does on SIGTERM
    assert finished.is_set()
    with Connection(bus_settings.bus_url) as conn:
        _, count, _ = conn.channel().queue_declare("upload.outcomes", passive=True)
    assert count == 0  # acked after the handler finished, not requeued
