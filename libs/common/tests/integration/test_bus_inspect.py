"""Counting a queue's consumers on a real RabbitMQ, without touching the queue."""

from __future__ import annotations

import pytest
from kombu import Connection, Consumer

from beatpass_common.bus import Publisher, inspect, topology

pytestmark = pytest.mark.integration


def test_consumers_are_counted_on_the_broker(clean_amqp):
    publisher = Publisher(clean_amqp)
    publisher.declare()
    assert inspect.consumers(clean_amqp, "waveform.tracks", timeout_s=5) == 0
    assert inspect.consumers(clean_amqp, "no.such.queue", timeout_s=5) == 0
    with Connection(clean_amqp) as conn:
        assert conn.channel().queue_declare("waveform.tracks", passive=True).consumer_count == 0
        worker = Consumer(
            conn, [topology.consumer_queue(topology.spec("waveform.tracks"))], callbacks=[lambda body, message: None]
        )
        worker.consume()
        assert inspect.consumers(clean_amqp, "waveform.tracks", timeout_s=5) == 1
        worker.cancel()
    publisher.close()


def test_consumers_unknown_without_a_broker():
    assert inspect.consumers("memory://localhost/", "waveform.tracks", timeout_s=1) is None
    assert inspect.consumers("amqp://guest:guest@127.0.0.1:1//", "waveform.tracks", timeout_s=1) is None
