"""Collections with a failing item, workers that die or are down: nothing is lost or stuck."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import numpy as np
import pytest
import requests

from beatpass_common.testing.media import beat_wav, cover_bytes, wav_bytes

pytestmark = pytest.mark.e2e

FIELDS = {"artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "non_exclusive"}
ORDER = ("catalog", "validation", "waveform", "fingerprint", "upload")


def _save(platform, audio: bytes, title: str) -> str:
    body = {
        **FIELDS,
        "title": title,
        "audio_upload_id": platform.upload(audio, "beat.wav"),
        "cover_upload_id": platform.upload(cover_bytes(1200), "cover.jpg"),
    }
    r = requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=platform.headers(), timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["track_id"]


def _collection(platform, cid):
    return requests.get(f"{platform.url}/api/v1/collections/{cid}", headers=platform.headers(), timeout=10).json()


def _wait(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_collection_with_a_rejected_item_is_partial_then_ready_after_retrying_that_item(platform):
    cover = platform.upload(cover_bytes(1500), "album.jpg")
    # Silence is found only by decoding: the save is accepted and validation rejects that item.
    audios = [
        platform.upload(beat_wav(12, seed=21), "a.wav"),
        platform.upload(wav_bytes(np.zeros((12 * 44_100, 2))), "silent.wav"),
        platform.upload(beat_wav(12, seed=23), "c.wav"),
    ]
    body = {
        "title": "Tape One",
        "cover_upload_id": cover,
        "tracks": [{**FIELDS, "title": f"Track {i}", "audio_upload_id": a} for i, a in enumerate(audios)],
    }
    r = requests.post(f"{platform.url}/api/v1/collections", json=body, headers=platform.headers(), timeout=30)
    assert r.status_code == 202, r.text
    cid, ids = r.json()["collection_id"], r.json()["track_ids"]

    partial = _wait(lambda: (c := _collection(platform, cid)).get("status") == "partial" and c)
    items = {item["id"]: item for item in partial["items"]}
    assert [items[i]["status"] for i in ids] == ["ready", "rejected", "ready"]
    assert items[ids[1]]["errors"][0]["code"] == "AUDIO_SILENT"
    versions_before = {i: items[i]["version"] for i in (ids[0], ids[2])}

    fixed = platform.upload(beat_wav(13, seed=24), "fixed.wav")
    r = requests.post(
        f"{platform.url}/api/v1/collections/{cid}/tracks/{ids[1]}/retry",
        json={"audio_upload_id": fixed},
        headers=platform.headers(),
        timeout=30,
    )
    assert r.status_code == 202, r.text
    ready = _wait(lambda: (c := _collection(platform, cid)).get("status") == "ready" and c)
    items = {item["id"]: item for item in ready["items"]}
    assert all(items[i]["status"] == "ready" for i in ids)
    assert items[ids[1]]["submission"] == 1 and items[ids[1]]["title"] == "Track 1"
    assert {i: items[i]["version"] for i in (ids[0], ids[2])} == versions_before  # the rest untouched
    album = requests.get(platform.url + ready["cover"]["large"], headers=platform.headers(), timeout=10)
    assert album.status_code == 200 and album.content.startswith(b"\xff\xd8")


def test_worker_killed_mid_message_the_track_still_reaches_ready(platform):
    # Freeze the waveform worker so the broker delivers the message to it, then kill the process
    # while the message is delivered and unacknowledged; its successor gets it again.
    platform.procs["waveform"].send_signal(signal.SIGSTOP)
    track_id = _save(platform, beat_wav(12, seed=31), "Survivor")
    platform.wait_track(track_id, until=lambda t: t["steps"]["validation"]["state"] == "done")
    time.sleep(1.0)
    assert platform.track(track_id)["steps"]["waveform"]["state"] == "pending"  # no worker started it
    platform.procs["waveform"].kill()
    platform.procs["waveform"].wait()
    del platform.procs["waveform"]
    platform.start("waveform")
    track = platform.wait_track(track_id)
    assert track["status"] == "ready" and track["steps"]["waveform"]["state"] == "done"


def _reaper_passes(platform) -> float:
    metrics = requests.get(f"http://127.0.0.1:{platform.ports['catalog']}/metrics", timeout=5).text
    line = next((ln for ln in metrics.splitlines() if ln.startswith("beatpass_catalog_reaper_passes_total ")), None)
    return float(line.split()[1]) if line else 0.0


def test_step_whose_worker_is_down_waits_queued_and_is_not_failed_then_runs_when_it_returns(platform_env):
    # A backlog while no worker consumes the queue is not the item's failure: past its queue
    # deadline it is neither re-driven nor failed, however many reaper passes go by.
    for name in ORDER:
        if name == "catalog":
            # (long enough for validation to finish while queued-or-running is not yet told apart
            # by a step.started from every runtime)
            platform_env.start(name, BEATPASS_STEP_QUEUE_DEADLINE_S="8", BEATPASS_STEP_ATTEMPTS="2")
        elif name != "waveform":
            platform_env.start(name)
    track_id = _save(platform_env, beat_wav(12, seed=41), "Patience")
    queued = platform_env.wait_track(
        track_id, until=lambda t: t["steps"]["fingerprint"]["state"] == "done", timeout=60
    )["steps"]["waveform"]
    due = datetime.fromisoformat(queued["deadline_at"])
    _wait(lambda: datetime.now(UTC) > due, timeout=30)
    seen = _reaper_passes(platform_env)
    _wait(lambda: _reaper_passes(platform_env) >= seen + 3)  # each pass saw the step past its queue deadline
    track = platform_env.track(track_id)
    assert track["status"] == "processing"
    assert track["steps"]["waveform"]["state"] == "pending" and track["steps"]["waveform"]["attempts"] == 1
    platform_env.start("waveform")
    track = platform_env.wait_track(track_id)
    assert track["status"] == "ready" and track["steps"]["waveform"]["state"] == "done"
