"""The two PCM layouts validation once accepted and the later steps could not read (the shared
case odd_pcm_layouts.py, generated here byte for byte), through the five services as OS processes
on RabbitMQ + PostgreSQL + S3: 20-bit samples in 3-byte containers are 24-bit PCM to every
reader and end ready; 24-bit samples in 8-byte stereo frames are refused with validation's reason
as soon as the upload completes (the gateway's inspection), so Save answers 422 and no step is
asked to read them."""

from __future__ import annotations

import math

import pytest
import requests

from beatpass_common.testing.media import cover_bytes, odd_pcm_layouts

pytestmark = pytest.mark.e2e

FIELDS = {"artists": ["Kai"], "bpm": 104, "key": "A", "scale": "minor", "licensing": "non_exclusive"}
LAYOUT_SENTENCE = (
    "This WAV file's frame size (8 bytes) does not match its 2 channels of 24-bit samples "
    "(6 bytes), so audio programs disagree on how to play it. Export the track again as a "
    "standard WAV file. BeatPass accepts 16, 24 or 32-bit PCM or 32-bit float WAV audio."
)


def _save(platform, audio: bytes, name: str) -> requests.Response:
    body = {
        **FIELDS,
        "title": name,
        "audio_upload_id": platform.upload(audio, name),
        "cover_upload_id": platform.upload(cover_bytes(1200), "cover.jpg"),
    }
    return requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=platform.headers(), timeout=30)


def test_20_bit_in_3_bytes_is_ready_and_24_bit_in_8_byte_frames_is_refused_with_its_reason(platform):
    files = odd_pcm_layouts()
    saved = _save(platform, files["pcm20_in_3_bytes.wav"], "pcm20_in_3_bytes.wav")
    assert saved.status_code == 202, saved.text
    accepted = saved.json()["track_id"]
    refused = _save(platform, files["pcm24_in_8_byte_frames.wav"], "pcm24_in_8_byte_frames.wav")
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [{"field": "audio", "code": "AUDIO_LAYOUT", "message": LAYOUT_SENTENCE}]

    track = platform.wait_track(accepted)
    assert track["status"] == "ready", track
    assert {k: v["state"] for k, v in track["steps"].items()} == {
        "validation": "done",
        "waveform": "done",
        "fingerprint": "done",
    }
    facts = track["facts"]
    assert (facts["format"], facts["sample_rate"], facts["channels"], facts["bit_depth"]) == ("WAV PCM", 48000, 2, 24)
    assert facts["duration_s"] == pytest.approx(12.0, abs=1e-6)
    assert facts["peak_dbfs"] == pytest.approx(20 * math.log10(0.8), abs=0.01)
    peaks = requests.get(platform.url + track["waveform"]["json"], headers=platform.headers(), timeout=10).json()
    assert peaks["samples_per_pixel"] == 256 and peaks["length"] == -(-12 * 48000 // 256)
    assert max(peaks["data"]) > 64  # the music is drawn, not silence read from misaligned bytes
    png = requests.get(platform.url + track["waveform"]["png"], headers=platform.headers(), timeout=10)
    assert png.content.startswith(b"\x89PNG")
    tracks = requests.get(f"{platform.url}/api/v1/tracks", headers=platform.headers(), timeout=10).json()
    assert [t["id"] for t in tracks["items"]] == [accepted]  # nothing of the refused file was saved

    me = requests.get(f"{platform.url}/api/v1/me", headers=platform.headers(), timeout=10).json()
    assert me["upload_minutes"]["used"] == pytest.approx(12 / 60, abs=1e-3)  # the refused file holds none
