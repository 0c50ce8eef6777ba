"""The two PCM layouts validation once accepted and the later steps could not read (the shared
case odd_pcm_layouts.py, generated here byte for byte), through the five services as OS processes
on RabbitMQ + PostgreSQL + S3: 20-bit samples in 3-byte containers are 24-bit PCM to every
reader and end ready; 24-bit samples in 8-byte stereo frames are refused at validation with the
reason, and no later step is asked to read them."""

from __future__ import annotations

import math

import pytest
import requests

from beatpass_common.testing.media import cover_bytes, odd_pcm_layouts

pytestmark = pytest.mark.e2e

FIELDS = {"artists": ["Kai"], "bpm": 104, "key": "A", "scale": "minor", "licensing": "non_exclusive"}
LAYOUT_SENTENCE = ("This WAV file's frame size (8 bytes) does not match its 2 channels of 24-bit samples "
                   "(6 bytes), so audio programs disagree on how to play it. Export the track again as a "
                   "standard WAV file. BeatPass accepts 16, 24 or 32-bit PCM or 32-bit float WAV audio.")


def _save(platform, audio: bytes, name: str) -> str:
    body = {**FIELDS, "title": name, "audio_upload_id": platform.upload(audio, name),
            "cover_upload_id": platform.upload(cover_bytes(1200), "cover.jpg")}
    r = requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=platform.headers(), timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["track_id"]


def test_20_bit_in_3_bytes_is_ready_and_24_bit_in_8_byte_frames_is_refused_with_its_reason(platform):
    files = odd_pcm_layouts()
    accepted = _save(platform, files["pcm20_in_3_bytes.wav"], "pcm20_in_3_bytes.wav")
    refused = _save(platform, files["pcm24_in_8_byte_frames.wav"], "pcm24_in_8_byte_frames.wav")

    track = platform.wait_track(accepted)
    assert track["status"] == "ready", track
    assert {k: v["state"] for k, v in track["steps"].items()} == {
        "validation": "done", "waveform": "done", "fingerprint": "done"}
    facts = track["facts"]
    assert (facts["format"], facts["sample_rate"], facts["channels"], facts["bit_depth"]) == ("WAV PCM", 48000, 2, 24)
    assert facts["duration_s"] == pytest.approx(12.0, abs=1e-6)
    assert facts["peak_dbfs"] == pytest.approx(20 * math.log10(0.8), abs=0.01)
    peaks = requests.get(platform.url + track["waveform"]["json"], headers=platform.headers(), timeout=10).json()
    assert peaks["samples_per_pixel"] == 256 and peaks["length"] == -(-12 * 48000 // 256)
    assert max(peaks["data"]) > 64  # the music is drawn, not silence read from misaligned bytes
    png = requests.get(platform.url + track["waveform"]["png"], headers=platform.headers(), timeout=10)
    assert png.content.startswith(b"\x89PNG")

    rejected = platform.wait_track(refused)
    assert rejected["status"] == "rejected", rejected
    assert rejected["errors"] == [{"code": "AUDIO_LAYOUT", "field": "audio", "message": LAYOUT_SENTENCE}]
    assert rejected["facts"] is None and rejected["waveform"] is None
    # Validation published no track.validated: the later steps never took a message for it.
    steps = {k: (v["state"], v["attempts"], v["started_at"]) for k, v in rejected["steps"].items()}
    assert steps.pop("validation")[0] == "done"
    assert steps == {"waveform": ("pending", 0, None), "fingerprint": ("pending", 0, None)}

    me = requests.get(f"{platform.url}/api/v1/me", headers=platform.headers(), timeout=10).json()
    assert me["upload_minutes"]["used"] == pytest.approx(12 / 60, abs=1e-3)  # the refused file holds none
