"""The hard limits in ``make run`` (one process, in-memory bus, SQLite, local files): a file whose
analysis never returns fails its track within the limits while a normal track and the brown-noise
file that once hung validation reach ready, and SIGTERM then stops the process in time."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from beatpass_common.auth import mint_dev_token
from beatpass_common.config import Settings
from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "non_exclusive"}


def _free_base() -> int:
    """A port whose next four are free too (the gateway's, then the four workers')."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 4 < 65536 and all(_free(base + i) for i in range(5)):
            return base
    raise RuntimeError("no five free ports in a row")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _brown_noise() -> bytes:
    """The shared case brown_noise_48k_mono.py: 25 s of brown noise, mono, 48 kHz, 16-bit."""
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.standard_normal((44100 * 25 + 137, 2)), axis=0)
    walk = 0.9 * walk / np.max(np.abs(walk))
    out = io.BytesIO()
    sf.write(out, walk[:, 0], 48000, subtype="PCM_16", format="WAV")
    return out.getvalue()


class MakeRun:
    def __init__(self, tmp: Path, **env):
        self.port = _free_base()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "make-run.log", "ab")
        full = {k: v for k, v in os.environ.items() if not k.startswith("BEATPASS_")}
        full.update(
            {
                "BEATPASS_HTTP_PORT": str(self.port),
                "BEATPASS_VAR_DIR": str(tmp / "var"),
                "BEATPASS_DEV_MODE": "true",
                "BEATPASS_RETRY_DELAYS_S": "[0.5]",
                **env,
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run_all.py")],
            env=full,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"make run exited; see {self.log.name}"
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.headers = {"Authorization": f"Bearer {mint_dev_token(Settings(), 'demo-producer')}"}

    def upload(self, data: bytes, name: str) -> str:
        from tusclient import client as tus

        up = tus.TusClient(f"{self.url}/api/v1/uploads", headers=self.headers).uploader(
            file_stream=io.BytesIO(data), chunk_size=5 * 1024 * 1024, metadata={"filename": name}
        )
        up.upload()
        return up.url.rsplit("/", 1)[1]

    def save(self, audio_id: str, title: str) -> str:
        body = {
            **FIELDS,
            "title": title,
            "audio_upload_id": audio_id,
            "cover_upload_id": self.upload(cover_bytes(1200), "cover.jpg"),
        }
        r = requests.post(f"{self.url}/api/v1/tracks", json=body, headers=self.headers, timeout=30)
        assert r.status_code == 202, r.text
        return r.json()["track_id"]

    def wait(self, track_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            track = requests.get(f"{self.url}/api/v1/tracks/{track_id}", headers=self.headers, timeout=10).json()
            if track["status"] != "processing":
                return track
            time.sleep(0.3)
        raise AssertionError(f"track {track_id} still processing: {track}")

    def stop(self, timeout: float) -> float:
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return time.monotonic() - began


def test_make_run_survives_a_stuck_analysis_and_the_brown_noise_file(tmp_path):
    first = MakeRun(tmp_path)
    stuck = first.upload(beat_wav(12, seed=81), "stuck.wav")
    brown = first.upload(_brown_noise(), "brown.wav")
    first.stop(30)

    run = MakeRun(
        tmp_path,
        BEATPASS_TEST_FAULT=f"validation.audio:hang:{stuck}",
        BEATPASS_HANDLER_TIME_LIMIT_S="4",
        BEATPASS_PARK_AFTER_OVERRUNS="2",
        BEATPASS_SHUTDOWN_GRACE_S="2",
    )
    try:
        stuck_track = run.save(stuck, "Never Ends")
        normal = run.save(run.upload(beat_wav(12, seed=82), "plain.wav"), "Plain Beat")
        noise = run.save(brown, "Brown Noise")
        assert run.wait(normal)["status"] == "ready"
        noisy = run.wait(noise)
        assert noisy["status"] == "ready", noisy
        bpm = (noisy.get("facts") or {}).get("audio", {}).get("estimated_bpm")
        assert bpm is None or 60 <= bpm <= 200
        failed = run.wait(stuck_track)
        assert failed["status"] == "failed", failed
        assert "longer than we allow" in failed["steps"]["validation"]["error"], failed
    finally:
        took = run.stop(30)
    assert took < 2 + 10, f"SIGTERM took {took:.1f} s"
    assert run.proc.returncode == 0
