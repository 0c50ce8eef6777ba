"""Processing that can never hang, on the real path: the five services as OS processes on
RabbitMQ + PostgreSQL + S3, with a test-only fault that makes one file's analysis never return.

The stuck track reaches a terminal state within the limits, a normal track saved after it
reaches ready meanwhile, a real Prometheus scraping the worker fires the overrun and parked
alerts, and a worker with a stuck handler exits within its grace period on SIGTERM.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from beatpass_common.testing import infra
from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "rules" / "beatpass.rules.yml"
FIELDS = {"artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "non_exclusive"}
LIMITS = {"BEATPASS_HANDLER_TIME_LIMIT_S": "4", "BEATPASS_PARK_AFTER_OVERRUNS": "2", "BEATPASS_SHUTDOWN_GRACE_S": "2"}


def _save(platform, audio: bytes | str, title: str) -> str:
    """Save a track; ``audio`` is the bytes to upload or an upload id."""
    audio_id = audio if isinstance(audio, str) else platform.upload(audio, "beat.wav")
    body = {
        **FIELDS,
        "title": title,
        "audio_upload_id": audio_id,
        "cover_upload_id": platform.upload(cover_bytes(1200), "cover.jpg"),
    }
    r = requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=platform.headers(), timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["track_id"]


class Prometheus:
    """Debian's prometheus scraping local services every second with the platform's alert rules."""

    def __init__(self, tmp: Path, targets: dict[str, int]):
        assert shutil.which("prometheus"), "make test installs Debian's prometheus"
        self.port = infra.free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": f"beatpass-{name}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for name, port in targets.items()
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(tmp / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def firing(self, alertname: str) -> list[dict]:
        try:
            alerts = requests.get(f"http://127.0.0.1:{self.port}/api/v1/alerts", timeout=2).json()["data"]["alerts"]
        except (requests.RequestException, ValueError):
            return []
        return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]

    def close(self):
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


def test_stuck_analysis_fails_its_track_in_time_while_others_pass_and_the_alert_fires(platform_env):
    for name in ("catalog", "waveform", "fingerprint", "upload"):
        platform_env.start(name)
    stuck_audio, normal_audio = platform_env.upload(beat_wav(12, seed=71), "stuck.wav"), beat_wav(12, seed=72)
    platform_env.start("validation", BEATPASS_TEST_FAULT=f"validation.audio:hang:{stuck_audio}", **LIMITS)
    prometheus = Prometheus(platform_env.tmp, {"validation": platform_env.ports["validation"]})
    try:
        began = time.monotonic()
        stuck = _save(platform_env, stuck_audio, "Never Ends")
        normal = _save(platform_env, normal_audio, "Plain Beat")

        ready = platform_env.wait_track(normal, timeout=60)
        assert ready["status"] == "ready", ready
        failed = platform_env.wait_track(stuck, timeout=60)
        elapsed = time.monotonic() - began
        assert failed["status"] == "failed", failed
        # two tries of at most 4 s each, a retry delay, the normal track between them, and a fresh
        # child process (Python + librosa imports: 10-20 s on a busy 2-core machine) after each kill
        assert elapsed < 90, f"took {elapsed:.0f} s"
        step = failed["steps"]["validation"]
        assert step["state"] == "failed" and step["reason"] == "timeout"
        assert "validation step" in step["error"] and "longer than we allow" in step["error"]

        deadline = time.monotonic() + 60
        while not (alerts := prometheus.firing("BeatpassHandlerOverruns")) and time.monotonic() < deadline:
            time.sleep(1)
        assert alerts, "BeatpassHandlerOverruns never fired"
        assert alerts[0]["labels"]["job"] == "beatpass-validation" and alerts[0]["labels"]["reason"] == "timeout"
        assert alerts[0]["annotations"]["runbook_url"].endswith("#beatpasshandleroverruns")
        while not prometheus.firing("BeatpassMessagesParked") and time.monotonic() < deadline:
            time.sleep(1)
        assert prometheus.firing("BeatpassMessagesParked"), "BeatpassMessagesParked never fired"
    finally:
        prometheus.close()


def test_sigterm_with_a_stuck_handler_exits_within_the_grace_period(platform_env):
    for name in ("catalog", "upload"):
        platform_env.start(name)
    stuck_audio = platform_env.upload(beat_wav(12, seed=73), "stuck.wav")
    platform_env.start(
        "validation",
        BEATPASS_TEST_FAULT=f"validation.audio:hang:{stuck_audio}",
        **{**LIMITS, "BEATPASS_HANDLER_TIME_LIMIT_S": "120"},
    )
    _save(platform_env, stuck_audio, "Never Ends")
    metrics = f"http://127.0.0.1:{platform_env.ports['validation']}/metrics"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [
            line
            for line in requests.get(metrics, timeout=2).text.splitlines()
            if line.startswith("beatpass_validation_handler_busy_seconds{") and float(line.split()[-1]) > 0.5
        ]
        if busy:
            break
        time.sleep(0.3)
    assert busy, "the stuck handler never started"
    began = time.monotonic()
    code = platform_env.stop("validation", signal.SIGTERM)
    assert time.monotonic() - began < 2 + 8, "SIGTERM did not stop a worker with a stuck handler in time"
    assert code == 0
