"""Operator tools against a real RabbitMQ: dead letters listed without loss, then moved back."""

from __future__ import annotations

import json
import time

import pytest
from kombu import Connection

from beatpass_catalog import cli
from beatpass_common.bus import Publisher, topology
from beatpass_common.config import get_settings

pytestmark = pytest.mark.integration


def _depth(url: str, queue: str) -> int:
    with Connection(url) as conn:
        return conn.channel().queue_declare(queue, passive=True).message_count


def _wait_depth(url: str, queue: str, expected: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _depth(url, queue) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{queue} holds {_depth(url, queue)} messages, expected {expected}")
        time.sleep(0.05)


@pytest.fixture
def dead_letters(monkeypatch, clean_amqp):
    """Three parked waveform messages: two parked by the bus (our headers), one dead-lettered by
    the broker at its delivery limit (only x-death says where it came from)."""
    monkeypatch.setenv("BEATPASS_BUS_URL", clean_amqp)
    get_settings.cache_clear()
    publisher = Publisher(clean_amqp)
    publisher.declare()
    for event_id, reason in (("ev-1", "timeout: over 300 s"), ("ev-2", "unreadable: RIFF chunk size 0")):
        publisher.publish_raw(
            json.dumps({"id": event_id}).encode(),
            topology.DEAD,
            "waveform.dead",
            {"x-beatpass-dead-reason": reason, "x-beatpass-source-queue": "waveform.tracks", "x-beatpass-retries": 3},
            message_id=event_id,
        )
    publisher.publish_raw(
        b'{"id": "ev-3"}',
        topology.DEAD,
        "waveform.dead",
        {"x-death": [{"queue": "waveform.tracks", "reason": "delivery_limit", "count": 1}]},
        message_id="ev-3",
    )
    _wait_depth(clean_amqp, "waveform.dead", 3)
    yield clean_amqp
    publisher.close()
    get_settings.cache_clear()


def test_dead_list_shows_reasons_and_sources_and_keeps_the_messages(dead_letters, capsys):
    assert cli.main(["dead", "list", "waveform"]) == 0
    out = capsys.readouterr().out
    assert "id=ev-1 from=waveform.tracks reason=timeout: over 300 s" in out
    assert "id=ev-2 from=waveform.tracks reason=unreadable: RIFF chunk size 0" in out
    assert "id=ev-3 from=waveform.tracks reason=broker: delivery_limit" in out
    assert "3 message(s) listed" in out
    _wait_depth(dead_letters, "waveform.dead", 3)  # listing keeps them


def test_dead_replay_moves_messages_back_to_their_queue(dead_letters, capsys):
    url = dead_letters
    assert cli.main(["dead", "replay", "waveform", "--id", "ev-2"]) == 0
    assert "1 message(s) replayed" in capsys.readouterr().out
    _wait_depth(url, "waveform.tracks", 1)
    _wait_depth(url, "waveform.dead", 2)
    with Connection(url) as conn:
        back = conn.channel().basic_get("waveform.tracks", no_ack=True)
        assert json.loads(back.body) == {"id": "ev-2"}
        assert not any(k.startswith("x-beatpass-") for k in back.headers)  # a fresh start, retries at 0
    assert cli.main(["dead", "replay", "waveform", "--limit", "1"]) == 0
    assert "1 message(s) replayed" in capsys.readouterr().out
    _wait_depth(url, "waveform.dead", 1)
    assert cli.main(["dead", "replay", "waveform"]) == 0
    assert "1 message(s) replayed" in capsys.readouterr().out
    _wait_depth(url, "waveform.dead", 0)
    _wait_depth(url, "waveform.tracks", 2)
    assert cli.main(["dead", "replay", "waveform"]) == 0
    assert "0 message(s) replayed" in capsys.readouterr().out
