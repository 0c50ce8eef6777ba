"""Operator tools against a real RabbitMQ: dead letters listed without loss, then replayed."""

from __future__ import annotations

import time

import pytest
from kombu import Connection

from beatpass_catalog import cli
from beatpass_common.bus import Publisher, topology
from beatpass_common.config import get_settings

pytestmark = pytest.mark.integration


def test_cli_lists_and_replays_dead_letters(monkeypatch, clean_amqp, capsys):
    monkeypatch.setenv("BEATPASS_BUS_URL", clean_amqp)
    get_settings.cache_clear()
    publisher = Publisher(clean_amqp)
    publisher.declare()
    publisher.publish_raw(b'{"broken": true}', topology.DEAD, "waveform.dead",
                          {"x-beatpass-dead-reason": "malformed: test", "x-beatpass-source-queue": "waveform.tracks"})
    time.sleep(0.3)
    assert cli.main(["dead", "list", "waveform"]) == 0
    out = capsys.readouterr().out
    assert "reason=malformed: test" in out and "1 message(s) listed" in out
    assert cli.main(["dead", "list", "waveform"]) == 0  # listing keeps them
    assert "1 message(s) listed" in capsys.readouterr().out
    assert cli.main(["dead", "replay", "waveform"]) == 0
    assert "1 message(s) replayed" in capsys.readouterr().out
    time.sleep(0.3)
    with Connection(clean_amqp) as conn:
        channel = conn.channel()
        back = channel.basic_get("waveform.tracks")
        assert back is not None and back.body == '{"broken": true}'
        assert channel.basic_get("waveform.dead") is None
    publisher.close()
    get_settings.cache_clear()
