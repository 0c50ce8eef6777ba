"""The gateway as production runs it: gunicorn, several worker processes, multiprocess metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.e2e


def test_gunicorn_workers_share_upload_state_and_metrics(platform_env, tmp_path):
    for name in ("catalog", "validation", "waveform", "fingerprint"):
        platform_env.start(name)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    metrics_dir = tmp_path / "metrics"
    platform_env.start(
        "upload",
        [gunicorn, "-c", "python:beatpass_upload.gunicorn_conf", "beatpass_upload.wsgi:app"],
        BEATPASS_GUNICORN_WORKERS="3",
        BEATPASS_GUNICORN_THREADS="4",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    audio = beat_wav(60, seed=51)  # ~10 MiB: several PATCHes, spread over the workers
    cover = cover_bytes(1100)
    body = {
        "title": "Workers",
        "artists": ["Kai"],
        "bpm": 120,
        "key": "A",
        "scale": "minor",
        "licensing": "exclusive",
        "audio_upload_id": platform_env.upload(audio, "w.wav"),
        "cover_upload_id": platform_env.upload(cover, "c.jpg"),
    }
    r = requests.post(f"{platform_env.url}/api/v1/tracks", json=body, headers=platform_env.headers(), timeout=30)
    assert r.status_code == 202, r.text
    assert platform_env.wait_track(r.json()["track_id"])["status"] == "ready"

    metrics = requests.get(f"{platform_env.url}/metrics", timeout=10).text
    received = float(re.search(r"^beatpass_upload_bytes_received_total (\S+)$", metrics, re.M).group(1))
    assert received == len(audio) + len(cover)  # summed over every worker process
    assert re.search(r'^beatpass_upload_saves_total\{code="accepted",kind="track"\} 1\.0$', metrics, re.M)
    assert len(os.listdir(metrics_dir)) >= 3

    # gunicorn's own refusals are problem documents, and nothing names a version.
    rules = requests.get(f"{platform_env.url}/api/v1/rules", timeout=10)
    assert rules.headers["Server"] == "gunicorn" and rules.headers["X-Content-Type-Options"] == "nosniff"
    for request, status, code in (
        (
            b"GET /api/v1/rules HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "HEADERS_TOO_LARGE",
        ),
        (
            b"POST /api/v1/tracks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            None,
        ),
    ):
        head, body = _raw(platform_env.url, request)
        assert head.startswith(f"HTTP/1.1 {status}".encode()), head
        assert b"application/problem+json" in head, head
        assert code is None or json.loads(body)["errors"][0]["code"] == code
        request_id = re.search(rb"\r\nX-Request-Id: ([0-9a-f]{32})\r\n", head + b"\r\n").group(1).decode()
        assert json.loads(body)["request_id"] == request_id  # what support asks for, even here

    assert platform_env.stop("upload", signal.SIGTERM) == 0  # drains and exits cleanly


def _raw(url: str, payload: bytes) -> tuple[bytes, bytes]:
    """Send ``payload`` on its own connection; the server closes it after an error answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body
