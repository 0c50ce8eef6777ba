"""What a 202 names is readable at once: the gateway answers its submitted view, and its event
streams begin, before the catalog has the record (here: the gateway's outbox relay is held back,
as when the bus or the catalog lags), then hand over to the catalog once it has it."""

from __future__ import annotations

import json
import time

import pytest
import requests

from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.integration


def _fields(**over):
    return {
        "title": "Night Drive",
        "artists": ["Kai"],
        "bpm": 120,
        "key": "A",
        "scale": "minor",
        "licensing": "non_exclusive",
        **over,
    }


class Stream:
    """An SSE response read event by event, each read bounded by the request's timeout."""

    def __init__(self, response: requests.Response):
        self.response, self._chunks, self._buffer = response, response.iter_content(chunk_size=None), b""

    def next_event(self, deadline_s: float = 20.0) -> dict:
        """The next event (comments skipped) as {"id", "event", "data"}."""
        deadline = time.monotonic() + deadline_s
        while b"\n\n" not in self._buffer or self._buffer.startswith(b":"):
            if b"\n\n" in self._buffer:  # a comment: ": keep-alive", ": waiting for the catalog"
                self._buffer = self._buffer.split(b"\n\n", 1)[1]
                continue
            assert time.monotonic() < deadline, "no event in time"
            self._buffer += next(self._chunks)
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        fields = dict(line.split(": ", 1) for line in block.decode().splitlines())
        return {"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])}


def test_a_collection_and_its_tracks_read_and_stream_before_the_catalog_has_them(real_settings, stack_factory):
    stack = stack_factory(real_settings.model_copy(update={"catalog_catchup_poll_s": 0.1}))
    audio, cover = stack.tus_upload(beat_wav(10), filename="one.wav"), stack.tus_upload(cover_bytes(1000))
    stack.gateway.outbox.stop()  # the catalog hears of nothing until relay_once below
    r = requests.post(
        f"{stack.url}/api/v1/collections",
        headers=stack.headers(),
        timeout=30,
        json={"title": "Tape", "cover_upload_id": cover, "tracks": [{**_fields(), "audio_upload_id": audio}]},
    )
    assert r.status_code == 202, r.text
    collection_id, (track_id,) = r.json()["collection_id"], r.json()["track_ids"]

    got = requests.get(f"{stack.url}/api/v1/collections/{collection_id}", headers=stack.headers(), timeout=30)
    assert got.status_code == 200, got.text
    view = got.json()
    assert (view["id"], view["title"], view["status"], view["version"]) == (collection_id, "Tape", "processing", 0)
    (item,) = view["items"]
    assert (item["id"], item["status"], item["collection_id"]) == (track_id, "processing", collection_id)
    assert {name: step["state"] for name, step in item["steps"].items()} == dict.fromkeys(
        ("validation", "waveform", "fingerprint"), "pending"
    )
    assert item["audio"]["filename"] == "one.wav"
    track = requests.get(f"{stack.url}/api/v1/tracks/{track_id}", headers=stack.headers(), timeout=30)
    assert track.status_code == 200 and track.json()["status"] == "processing"
    for path in (f"collections/{collection_id}", f"collections/{collection_id}/events", f"tracks/{track_id}/events"):
        other = requests.get(f"{stack.url}/api/v1/{path}", headers=stack.headers("producer-b"), timeout=30)
        assert other.status_code == 404, path  # another producer's id stays unknown

    ticket = requests.post(
        f"{stack.url}/api/v1/collections/{collection_id}/events/ticket", headers=stack.headers(), timeout=30
    )
    collection_stream = Stream(requests.get(f"{stack.url}{ticket.json()['url']}", stream=True, timeout=10))
    track_stream = Stream(
        requests.get(f"{stack.url}/api/v1/tracks/{track_id}/events", headers=stack.headers(), stream=True, timeout=10)
    )
    try:
        first = collection_stream.next_event()
        assert first == {
            "id": None,
            "event": "status",  # no id: a reconnect starts afresh
            "data": {"collection_id": collection_id, "status": "processing", "version": 0},
        }
        first = track_stream.next_event()
        assert first["id"] is None and first["data"] == {
            "track_id": track_id,
            "status": "processing",
            "version": 0,
            "collection_id": collection_id,
            "steps": {"validation": "pending", "waveform": "pending", "fingerprint": "pending"},
        }

        assert stack.gateway.outbox.relay_once() == 2  # the catalog catches up
        caught_up = collection_stream.next_event()  # the catalog's own stream, with its ids
        assert caught_up["id"] is not None and caught_up["data"]["collection_id"] == collection_id
        assert caught_up["data"]["version"] >= 1
        caught_up = track_stream.next_event()
        assert caught_up["id"] is not None and caught_up["data"]["track_id"] == track_id
    finally:
        collection_stream.response.close()
        track_stream.response.close()
    recorded = requests.get(f"{stack.url}/api/v1/collections/{collection_id}", headers=stack.headers(), timeout=30)
    assert recorded.json()["version"] >= 1 and recorded.json()["items"][0]["audio"]["filename"] == "one.wav"


def test_a_stream_waiting_for_the_catalog_ends_within_its_limit(real_settings, stack_factory):
    stack = stack_factory(
        real_settings.model_copy(update={"catalog_catchup_poll_s": 0.1, "catalog_catchup_wait_s": 1.0})
    )
    stack.gateway.outbox.stop()
    r = stack.save(
        {
            **_fields(),
            "audio_upload_id": stack.tus_upload(beat_wav(10)),
            "cover_upload_id": stack.tus_upload(cover_bytes(1000)),
        }
    )
    started = time.monotonic()
    stream = requests.get(
        f"{stack.url}/api/v1/tracks/{r.json()['track_id']}/events", headers=stack.headers(), timeout=10
    )  # not streamed: returns once the gateway ends the stream
    assert stream.status_code == 200 and time.monotonic() - started < 8
    assert stream.text.startswith("event: status\ndata: ") and ": waiting for the catalog" in stream.text
