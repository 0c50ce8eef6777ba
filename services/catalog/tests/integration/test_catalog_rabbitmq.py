"""The catalog service on real RabbitMQ and PostgreSQL: events that come twice, late or out of
order on the bus, and status streams woken by them."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from beatpass_catalog.service import build
from beatpass_common.bus import Publisher

pytestmark = pytest.mark.integration
SECRET = "catalog-test-internal-api"
AUTH = {"Authorization": f"Bearer {SECRET}"}  # the gateway's credential on the internal API


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"internal_api_secret": SECRET})


@pytest.fixture
def catalog(settings, clean_amqp, postgres_url):
    s = settings.model_copy(update={"bus_url": clean_amqp, "catalog_database_url": postgres_url})
    runtime = build(s)
    runtime.start()
    publisher = Publisher(clean_amqp)
    yield runtime, publisher, f"http://127.0.0.1:{s.http_port}"
    publisher.close()
    runtime.stop()


def _get(url, ev):
    r = requests.get(f"{url}/internal/v1/producers/{ev.producer}/tracks/{ev.track_id}", headers=AUTH, timeout=5)
    return r.json() if r.status_code == 200 else None


def _wait(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met")


def test_out_of_order_and_duplicated_events_over_rabbitmq(catalog, events):
    runtime, publisher, url = catalog
    ev = events()
    submitted = ev.submitted()
    for event in [ev.waveform(), ev.fingerprint(), ev.waveform(), ev.validated(), submitted, submitted]:
        publisher.publish(event)
    track = _wait(lambda: (t := _get(url, ev)) and t["status"] == "ready" and t)
    assert track["title"] == "Night Drive"
    publisher.publish(submitted)  # a redelivered submission after ready
    later = events()  # another track's submission behind it in the queue: recorded means it was handled
    publisher.publish(later.submitted())
    _wait(lambda: _get(url, later))
    assert _get(url, ev)["status"] == "ready"
    assert _get(url, ev)["version"] == track["version"]


def test_status_stream_is_pushed_by_events(catalog, events):
    runtime, publisher, url = catalog
    ev = events()
    publisher.publish(ev.submitted())
    _wait(lambda: _get(url, ev))
    received, done = [], threading.Event()

    def listen():
        with requests.get(
            f"{url}/internal/v1/producers/{ev.producer}/tracks/{ev.track_id}/events",
            headers=AUTH,
            stream=True,
            timeout=30,
        ) as r:
            for line in r.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    received.append((time.monotonic(), json.loads(line[6:])))
                    if received[-1][1]["status"] == "ready":
                        done.set()
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(0.5)
    sent = time.monotonic()
    for event in (ev.validated(), ev.waveform(), ev.fingerprint()):
        publisher.publish(event)
    assert done.wait(15)
    statuses = [body["status"] for _, body in received]
    assert statuses[0] == "processing" and statuses[-1] == "ready"
    assert received[-1][1]["steps"] == {"validation": "done", "waveform": "done", "fingerprint": "done"}
    # Woken by the handler, not by a heartbeat poll (15 s).
    assert received[-1][0] - sent < 5
    other = requests.get(f"{url}/internal/v1/producers/intruder/tracks/{ev.track_id}/events", headers=AUTH, timeout=5)
    assert other.status_code == 404


def test_queued_steps_wait_for_a_consumer_then_start_and_fail_with_a_reason(settings, clean_amqp, postgres_url, events):
    """On PostgreSQL and RabbitMQ: a queued step is not failed while its queue has no consumer
    (counted on the broker); once a worker consumes it and it stays queued past its deadline it is
    re-driven; step.started over the bus makes it running; step.failed gives its reason."""
    from kombu import Connection, Consumer

    from beatpass_catalog.reaper import reap
    from beatpass_catalog.service import build_deps
    from beatpass_common.bus import topology

    s = settings.model_copy(
        update={
            "bus_url": clean_amqp,
            "catalog_database_url": postgres_url,
            "step_queue_deadline_s": -1.0,
            "reaper_interval_s": 3600.0,
        }
    )  # only the test's reap() passes act
    runtime = build(s)
    runtime.start()
    url = f"http://127.0.0.1:{s.http_port}"
    publisher = Publisher(clean_amqp)
    reaper_deps = build_deps(s, publisher.publish)
    ev = events()
    try:
        publisher.publish(ev.submitted())
        _wait(lambda: (t := _get(url, ev)) and t["steps"]["validation"]["state"] == "pending")
        assert reap(reaper_deps) == 0  # validation.tracks has no consumer: a backlog, not a failure
        with Connection(clean_amqp) as conn:
            worker = Consumer(
                conn,
                [topology.consumer_queue(topology.spec("validation.tracks"))],
                callbacks=[lambda body, message: None],
                prefetch_count=1,
            )  # takes, never acks
            worker.consume()
            assert reap(reaper_deps) == 1  # a consumer is there and the step never started: re-driven
            worker.cancel()
        assert _wait(lambda: _get(url, ev)["steps"]["validation"]["attempts"] == 2)
        publisher.publish(ev.started("validation"))
        step = _wait(lambda: (v := _get(url, ev)["steps"]["validation"])["state"] == "running" and v)
        assert step["started_at"] is not None
        publisher.publish(ev.step_failed("validation", 1, reason="unreadable", parked=True))
        step = _wait(lambda: (v := _get(url, ev)["steps"]["validation"])["state"] == "failed" and v)
        assert step["reason"] == "unreadable" and "This is our fault, not your file's" in step["error"]
    finally:
        publisher.close()
        runtime.stop()
