"""The whole platform, one OS process per service, on RabbitMQ + PostgreSQL + S3."""

from __future__ import annotations

import time

import pytest
import requests

from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.e2e

FIELDS = {"artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "non_exclusive"}


def _save(platform, audio: bytes, title: str, producer: str = "producer-e2e") -> str:
    body = {
        **FIELDS,
        "title": title,
        "audio_upload_id": platform.upload(audio, "beat.wav", producer),
        "cover_upload_id": platform.upload(cover_bytes(1200), "cover.jpg", producer),
    }
    r = requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=platform.headers(producer), timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["track_id"]


def test_upload_to_ready_then_the_same_audio_is_a_duplicate(platform):
    audio = beat_wav(14, seed=11)
    first = _save(platform, audio, "Night Drive")
    track = platform.wait_track(first)
    assert track["status"] == "ready", track
    assert {k: v["state"] for k, v in track["steps"].items()} == {
        "validation": "done",
        "waveform": "done",
        "fingerprint": "done",
    }
    assert track["facts"]["sample_rate"] == 44100 and abs(track["facts"]["duration_s"] - 14) < 0.01
    peaks = requests.get(platform.url + track["waveform"]["json"], headers=platform.headers(), timeout=10).json()
    assert peaks["version"] == 2 and peaks["samples_per_pixel"] == 256 and peaks["length"] > 0
    # Media links come signed (as an <img> opens them): no Authorization header, no token in the URL.
    png = requests.get(platform.url + track["waveform"]["png"], timeout=10)
    assert "signature=" in track["waveform"]["png"] and png.content.startswith(b"\x89PNG")
    other = track["waveform"]["png"].replace("producer=producer-e2e", "producer=producer-other")
    assert requests.get(platform.url + other, timeout=10).status_code == 401
    cover = requests.get(platform.url + track["cover"]["large"], timeout=10)
    assert cover.status_code == 200 and cover.headers["Content-Type"] == "image/jpeg"

    second = _save(platform, audio, "Night Drive (again)")
    dup = platform.wait_track(second)
    assert dup["status"] == "rejected"
    assert dup["errors"] == [
        {
            "code": "DUPLICATE_AUDIO",
            "field": "audio",
            "message": "This audio matches your track “Night Drive”. If this is a new version, "
            "replace the audio on that track instead.",
        }
    ]

    # Another producer's re-upload is caught too, without revealing whose track it matched.
    third = _save(platform, audio, "Stolen", producer="someone-else")
    other = platform.wait_track(third, producer="someone-else")
    assert other["status"] == "rejected" and other["errors"][0]["code"] == "DUPLICATE_AUDIO"
    assert "Night Drive" not in other["errors"][0]["message"] and other["duplicate"]["track_id"] is None

    me = requests.get(f"{platform.url}/api/v1/me", headers=platform.headers(), timeout=10).json()
    assert abs(me["upload_minutes"]["used"] - 14 / 60) < 0.01  # the rejected copy gave its minutes back


def test_dispute_resolved_by_an_operator_new_versions_and_edits(platform):
    """On one platform (starting one costs more than these steps): a dispute, a new version saved
    with replaces_track_id, an edit and a replaced cover from the card, a collection's edits."""
    import subprocess
    import sys

    audio = beat_wav(13, seed=61)
    original = _save(platform, audio, "Original")
    assert platform.wait_track(original)["status"] == "ready"
    copy = _save(platform, audio, "Copy")
    assert platform.wait_track(copy)["status"] == "rejected"

    url = f"{platform.url}/api/v1/tracks/{copy}/dispute"
    r = requests.post(url, json={"reason": ""}, headers=platform.headers(), timeout=10)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "DISPUTE_REASON_REQUIRED"
    r = requests.post(url, json={"reason": "This is my remix with new stems."}, headers=platform.headers(), timeout=10)
    assert r.status_code == 202 and r.json()["status"] == "in_review"
    # Presented like any read (a stranger saw an unsigned cover link here: a 401 on the page).
    assert "signature=" in r.json()["cover"]["thumb"] and "signature=" in r.json()["audio"]["url"]
    assert r.json()["files"]["audio"]["upload_id"] and r.json()["files"]["cover"]["upload_id"]
    operator = subprocess.run(
        [
            sys.executable,
            "-m",
            "beatpass_catalog",
            "resolve",
            copy,
            "accept",
            "--operator",
            "ana@ops",
            "--note",
            "stems checked",
        ],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert operator.returncode == 0, operator.stderr
    accepted = platform.wait_track(copy, until=lambda t: t["status"] == "ready")
    assert accepted["dispute"]["state"] == "accepted" and accepted["dispute"]["resolved_by"] == "ana@ops"

    body = {
        **FIELDS,
        "title": "Original (v2)",
        "replaces_track_id": original,
        "audio_upload_id": platform.upload(beat_wav(13, seed=62), "v2.wav"),
        "cover_upload_id": platform.upload(cover_bytes(1200), "cover.jpg"),
    }
    r = requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=platform.headers(), timeout=30)
    assert r.status_code == 202, r.text
    assert platform.wait_track(r.json()["track_id"])["status"] == "ready"
    old = platform.wait_track(original, until=lambda t: t["status"] == "replaced")
    assert old["replaced_by"] == r.json()["track_id"]
    foreign = requests.post(
        f"{platform.url}/api/v1/tracks",
        json={**body, "replaces_track_id": original},
        headers=platform.headers("someone-else"),
        timeout=30,
    )
    assert foreign.status_code == 422
    assert "REPLACED_TRACK_NOT_FOUND" in {e["code"] for e in foreign.json()["errors"]}

    # Edit the new version's metadata, then replace its cover from the card: the next version
    # keeps its audio and the edited metadata, and takes its place.
    v2 = r.json()["track_id"]
    edit = requests.patch(
        f"{platform.url}/api/v1/tracks/{v2}",
        json={"title": "Original (v2, edited)", "bpm": 96},
        headers=platform.headers(),
        timeout=30,
    )
    assert edit.status_code == 200 and edit.json()["title"] == "Original (v2, edited)", edit.text
    recorded = platform.wait_track(v2, until=lambda t: t["edit"] == 1 and t["metadata"]["bpm"] == 96)
    assert recorded["status"] == "ready"
    r = requests.post(
        f"{platform.url}/api/v1/tracks/{v2}/replace",
        headers=platform.headers(),
        timeout=30,
        json={"cover_upload_id": platform.upload(cover_bytes(1300, color=(10, 120, 200)), "new.jpg")},
    )
    assert r.status_code == 202, r.text
    v3 = platform.wait_track(r.json()["track_id"])
    assert v3["status"] == "ready", v3  # its own audio was not taken for a duplicate of the version it replaces
    assert v3["title"] == "Original (v2, edited)" and v3["metadata"]["bpm"] == 96
    assert platform.wait_track(v2, until=lambda t: t["status"] == "replaced")["replaced_by"] == v3["id"]
    _collection_title_and_album_cover_change_through_validation(platform)


def _collection_title_and_album_cover_change_through_validation(platform):
    headers = platform.headers()
    r = requests.post(
        f"{platform.url}/api/v1/collections",
        headers=headers,
        timeout=30,
        json={
            "title": "Tape",
            "cover_upload_id": platform.upload(cover_bytes(1200), "album.jpg"),
            "tracks": [
                {**FIELDS, "title": "Side A", "audio_upload_id": platform.upload(beat_wav(12, seed=63), "a.wav")}
            ],
        },
    )
    assert r.status_code == 202, r.text
    cid, (item,) = r.json()["collection_id"], r.json()["track_ids"]
    platform.wait_track(item)
    url = f"{platform.url}/api/v1/collections/{cid}"

    def collection(until, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not until(body := requests.get(url, headers=headers, timeout=10).json()):
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
        return body

    first = collection(lambda c: c["status"] == "ready" and c["cover"])
    edit = requests.patch(
        url,
        headers=headers,
        timeout=30,
        json={
            "title": "Tape (Deluxe)",
            "cover_upload_id": platform.upload(cover_bytes(1400, color=(0, 90, 30)), "new.jpg"),
        },
    )
    assert edit.status_code == 200 and edit.json()["title"] == "Tape (Deluxe)", edit.text
    assert edit.json()["cover_change"] == {"state": "checking", "errors": []}
    changed = collection(lambda c: c["cover_change"] is None and c["cover"] != first["cover"])
    assert "/media/cover-large-r1.jpg?" in changed["cover"]["large"] and changed["title"] == "Tape (Deluxe)"
    image = requests.get(platform.url + changed["cover"]["large"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    wide = requests.patch(
        url,
        headers=headers,
        timeout=30,
        json={"cover_upload_id": platform.upload(cover_bytes(1200, height=800), "wide.jpg")},
    )
    assert wide.status_code == 422 and {e["code"] for e in wide.json()["errors"]} == {
        "COVER_DIMENSIONS",
        "COVER_NOT_SQUARE",
    }, wide.text  # the upload's inspection, at once
    whole = cover_bytes(1200, color=(200, 10, 10))  # a header inspection accepts, pixels only validation reads
    bad = requests.patch(
        url, headers=headers, timeout=30, json={"cover_upload_id": platform.upload(whole[: len(whole) // 2], "cut.jpg")}
    )
    assert bad.status_code == 200, bad.text
    refused = collection(lambda c: (c["cover_change"] or {}).get("state") == "rejected")
    assert refused["cover"] == changed["cover"] and refused["status"] == "ready"
    assert refused["cover_change"]["errors"][0]["field"] == "cover"
