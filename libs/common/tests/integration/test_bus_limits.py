"""The bus under long and hostile work, on a real RabbitMQ: heartbeats while a handler runs,
overruns and permanent errors parked, messages that kill their worker parked unrun, broker-side
dead letters reported, SIGTERM with a stuck handler, readiness on a dead connection."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from kombu import Connection

from beatpass_common.bus import Bus, topology
from beatpass_common.errors import TimeLimitExceeded, Unreadable
from beatpass_common.events import (
    AudioFacts,
    CoverFacts,
    ObjectRef,
    TrackMetadata,
    TrackSubmitted,
    TrackValidated,
    new_event,
    parse_event,
)

from .test_bus_rabbitmq import _drain, _wait

pytestmark = pytest.mark.integration


@pytest.fixture
def bus_settings(settings, clean_amqp):
    return settings.model_copy(
        update={"bus_url": clean_amqp, "retry_delays_s": [0.2, 0.2, 0.2], "park_after_overruns": 2}
    )


REF = ObjectRef(bucket="b", key="producers/p1/uploads/u1", size=10)


def _submitted():
    meta = TrackMetadata(title="t", artists=["a"], bpm=120, key="A", scale="minor", licensing="non_exclusive")
    return new_event(
        "track.submitted", TrackSubmitted(audio=REF, cover=REF, metadata=meta), producer_id="p1", track_id="t1"
    )


def _validated():
    facts = AudioFacts(format="WAV PCM", sample_rate=44100, bit_depth=16, channels=2, duration_s=12.0)
    cover = CoverFacts(format="JPEG", width=1400, height=1400)
    return new_event(
        "track.validated", TrackValidated(source=REF, audio=facts, cover=cover), producer_id="p1", track_id="t1"
    )


def _queue_depth(url: str, queue: str) -> int:
    with Connection(url) as conn:
        _, count, _ = conn.channel().queue_declare(queue, passive=True)
    return count


@pytest.fixture
def catalog_sink(bus_settings):
    """What the catalog would receive: step.started and step.failed events."""
    seen: list = []
    catalog = Bus(bus_settings, "catalog")
    catalog.subscribe(
        "catalog.records", {"step.started": seen.append, "step.failed": seen.append, "track.submitted": lambda e: None}
    )
    catalog.start()
    assert catalog.wait_ready(10)
    yield seen
    catalog.stop()


def test_long_handler_keeps_its_connection_and_is_acked_once(bus_settings, catalog_sink):
    # A 2 s heartbeat: RabbitMQ closes a connection after two missed ones, so a 12 s handler is as
    # hostile here as a 100 s one with the default 30 s heartbeat.
    settings = bus_settings.model_copy(update={"bus_heartbeat_s": 2})
    runs = []

    def slow(event):
        runs.append(event.id)
        time.sleep(12)

    bus = Bus(settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": slow})
    bus.start()
    try:
        bus.publish(_submitted())
        assert _wait(lambda: len(runs) == 1, 10)
        assert _wait(
            lambda: _queue_depth(settings.bus_url, "validation.tracks") == 0 and bus.consumers[0].busy_for() == 0, 30
        )
        assert runs == runs[:1], "redelivered: the connection was lost while the handler ran"
        assert bus.ready()
        started = [e for e in catalog_sink if e.type == "step.started"]
        assert len(started) == 1 and started[0].payload().step == "validation"
    finally:
        bus.stop()


def test_overrun_is_retried_then_parked_with_its_reason(bus_settings, catalog_sink):
    runs = []

    def stuck(event):
        runs.append(event.id)
        raise TimeLimitExceeded("stopped after 300 s")

    bus = Bus(bus_settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": stuck})
    bus.start()
    try:
        event = _submitted()
        bus.publish(event)
        assert _wait(lambda: any(e.type == "step.failed" for e in catalog_sink), 20)
        failed = next(e for e in catalog_sink if e.type == "step.failed").payload()
        assert len(runs) == 2  # park_after_overruns
        assert failed.reason == "timeout" and failed.parked and failed.step == "validation"
        ((body, headers),) = _drain(bus_settings.bus_url, "validation.dead")
        assert parse_event(body).id == event.id
        assert headers["x-beatpass-failure"] == "timeout"
        assert "TimeLimitExceeded" in headers["x-beatpass-dead-reason"]
        # two tries, each announced with its own id so the catalog restarts the deadline
        assert len({e.id for e in catalog_sink if e.type == "step.started"}) == 2
        assert _wait(  # nothing left to run: the queue empty and the consumer idle
            lambda: _queue_depth(bus_settings.bus_url, "validation.tracks") == 0 and bus.consumers[0].busy_for() == 0,
            10,
        )
        assert len(runs) == 2, "a parked message ran again"
    finally:
        bus.stop()


def test_permanent_error_is_parked_at_once(bus_settings, catalog_sink):
    runs = []

    def unreadable(event):
        runs.append(event.id)
        raise Unreadable("unsupported sample format")

    bus = Bus(bus_settings, "waveform", step="waveform")
    bus.subscribe("waveform.tracks", {"track.validated": unreadable})
    bus.start()
    try:
        bus.publish(_validated())
        assert _wait(lambda: any(e.type == "step.failed" for e in catalog_sink), 20)
        failed = next(e for e in catalog_sink if e.type == "step.failed").payload()
        assert runs and len(runs) == 1
        assert failed.reason == "unreadable" and failed.parked and failed.step == "waveform"
    finally:
        bus.stop()


KILLER = textwrap.dedent("""
    import os, sys, time
    from beatpass_common.bus import Bus
    from beatpass_common.config import Settings
    settings = Settings(bus_url=sys.argv[1], park_after_overruns=2)
    def die(event):
        print("got", event.id, flush=True)
        os._exit(9)  # the worker dies mid-message: no ack
    bus = Bus(settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": die})
    bus.start()
    time.sleep(60)
""")


def test_message_that_killed_its_worker_twice_is_parked_unrun(bus_settings, catalog_sink):
    setup = Bus(bus_settings, "upload")
    setup.declare()
    event = _submitted()
    setup.publish(event)
    for _ in range(2):
        child = subprocess.run(
            [sys.executable, "-c", KILLER, bus_settings.bus_url], capture_output=True, text=True, timeout=60
        )
        assert child.returncode == 9 and f"got {event.id}" in child.stdout
    runs = []
    bus = Bus(bus_settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": runs.append})
    bus.start()
    try:
        assert _wait(lambda: any(e.type == "step.failed" for e in catalog_sink), 20)
        failed = next(e for e in catalog_sink if e.type == "step.failed").payload()
        assert failed.reason == "worker_died" and failed.parked
        assert runs == []
        ((_, headers),) = _drain(bus_settings.bus_url, "validation.dead")
        assert headers["x-beatpass-failure"] == "worker_died"
    finally:
        bus.stop()
        setup.stop()


def test_broker_side_dead_letter_is_reported(bus_settings, catalog_sink):
    """A quorum queue dead-letters on its own past x-delivery-limit: no reason header of ours."""
    bus = Bus(bus_settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": lambda e: None})
    bus.start()
    try:
        assert bus.wait_ready(10)
        event = _submitted()
        bus.publisher.publish_raw(
            event.to_json(),
            topology.DEAD,
            "validation.dead",
            {"x-death": [{"reason": "delivery_limit", "queue": "validation.tracks"}]},
        )
        assert _wait(lambda: any(e.type == "step.failed" for e in catalog_sink), 20)
        failed = next(e for e in catalog_sink if e.type == "step.failed").payload()
        assert failed.parked and failed.reason == "worker_died" and "delivery_limit" in failed.error
        assert len(_drain(bus_settings.bus_url, "validation.dead")) == 1  # kept for operators
    finally:
        bus.stop()


def test_sigterm_with_a_stuck_handler_stops_in_time_and_returns_the_message(bus_settings):
    release = threading.Event()
    interrupted = []

    def stuck(event):
        release.wait(60)  # a child process the interrupt kills would end it like this

    bus = Bus(bus_settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": stuck})
    bus.start()
    bus.publish(_submitted())
    assert _wait(lambda: bus.consumers[0].busy_for() > 0, 10)
    began = time.monotonic()
    bus.stop(grace_s=1.0, on_overdue=lambda: (interrupted.append(1), release.set()))
    assert time.monotonic() - began < 5
    assert interrupted == [1]
    ((_, headers),) = _drain(bus_settings.bus_url, "validation.tracks")
    assert not headers.get("x-delivery-count"), "a shutdown must not count against the message"


def test_liveness_fails_while_a_handler_runs_past_its_limit(bus_settings):
    release = threading.Event()
    settings = bus_settings.model_copy(
        update={"handler_time_limit_s": 0.5, "estimate_time_limit_s": 0.0, "liveness_slack_s": 0.5}
    )
    bus = Bus(settings, "validation", step="validation")
    bus.subscribe("validation.tracks", {"track.submitted": lambda e: release.wait(30)})
    bus.start()
    try:
        assert all(bus.live().values())
        bus.publish(_submitted())
        assert _wait(lambda: not bus.live()["validation.tracks"], 10)
        release.set()
        assert _wait(lambda: bus.live()["validation.tracks"], 10)
    finally:
        release.set()
        bus.stop()


class _Proxy:
    """A TCP forwarder to the broker that the test can cut and restore (a network failure)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.pairs += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self):
        self.open = False
        for s in self.pairs:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.pairs = []

    def restore(self):
        self.open = True


def test_readiness_reflects_a_dead_publisher_connection(bus_settings):
    parts = urlsplit(bus_settings.bus_url)
    proxy = _Proxy((parts.hostname, parts.port or 5672))
    url = urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"))
    settings = bus_settings.model_copy(update={"bus_url": url, "bus_heartbeat_s": 3})
    bus = Bus(settings, "upload")
    bus.subscribe("upload.outcomes", {"track.ready": lambda e: None})
    bus.start()
    try:
        assert bus.wait_ready(10) and bus.ready()
        proxy.cut()
        assert _wait(lambda: not bus.ready(), 15), "still ready on a dead connection"
        proxy.restore()
        assert _wait(bus.ready, 30), "never ready again after the network came back"
    finally:
        proxy.restore()
        bus.stop()
