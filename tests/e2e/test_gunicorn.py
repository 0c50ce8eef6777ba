"""The gateway as production runs it: gunicorn, several worker processes, multiprocess metrics."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest
import requests

from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.e2e


def test_gunicorn_workers_share_upload_state_and_metrics(platform_env, tmp_path):
    for name in ("catalog", "validation", "waveform", "fingerprint"):
        platform_env.start(name)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    metrics_dir = tmp_path / "metrics"
    platform_env.start("upload", [gunicorn, "-c", "python:beatpass_upload.gunicorn_conf", "beatpass_upload.wsgi:app"],
                       BEATPASS_GUNICORN_WORKERS="3", BEATPASS_GUNICORN_THREADS="4",
                       PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    audio = beat_wav(60, seed=51)  # ~10 MiB: several PATCHes, spread over the workers
    cover = cover_bytes(1100)
    body = {"title": "Workers", "artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor",
            "licensing": "exclusive", "audio_upload_id": platform_env.upload(audio, "w.wav"),
            "cover_upload_id": platform_env.upload(cover, "c.jpg")}
    r = requests.post(f"{platform_env.url}/api/v1/tracks", json=body, headers=platform_env.headers(), timeout=30)
    assert r.status_code == 202, r.text
    assert platform_env.wait_track(r.json()["track_id"])["status"] == "ready"

    metrics = requests.get(f"{platform_env.url}/metrics", timeout=10).text
    received = float(re.search(r"^beatpass_upload_bytes_received_total (\S+)$", metrics, re.M).group(1))
    assert received == len(audio) + len(cover)  # summed over every worker process
    assert re.search(r'^beatpass_upload_saves_total\{code="accepted",kind="track"\} 1\.0$', metrics, re.M)
    assert len(os.listdir(metrics_dir)) >= 3

    assert platform_env.stop("upload", signal.SIGTERM) == 0  # drains and exits cleanly
