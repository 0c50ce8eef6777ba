"""Save → ready benchmark (printed figures, not a timed test).

The five services as OS processes (``python -m beatpass_<name>``, as tests/e2e starts them with
tests/conftest.py's ``new_platform``) on real RabbitMQ, PostgreSQL and S3 (moto's server unless
BEATPASS_TEST_S3_URL names one). Each round uploads a different 3-minute 44.1 kHz 16-bit stereo
WAV and a cover (not timed), then times from the save's request to the first moment the track
reads ``ready`` through the gateway (polled every ``--poll-ms``). Saves run one after another, so
each figure is one track's own latency. Prints p50 and p95 (goal: p95 < 2 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from beatpass_common.testing import infra  # noqa: E402
from beatpass_common.testing.media import beat_wav, cover_bytes  # noqa: E402
from tests.conftest import new_platform  # noqa: E402

FIELDS = {"artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "non_exclusive"}


def _save_to_ready(platform, audio: bytes, n: int, poll_s: float, limit_s: float) -> float:
    body = {
        **FIELDS,
        "title": f"Bench {n}",
        "audio_upload_id": platform.upload(audio, f"bench-{n}.wav"),
        "cover_upload_id": platform.upload(cover_bytes(1200, color=(n * 7 % 256, 90, 160)), "cover.jpg"),
    }
    headers = platform.headers()
    started = time.perf_counter()
    r = requests.post(f"{platform.url}/api/v1/tracks", json=body, headers=headers, timeout=30)
    if r.status_code != 202:
        raise RuntimeError(f"save {n}: {r.status_code} {r.text}")
    track_id = r.json()["track_id"]
    while time.perf_counter() - started < limit_s:
        status = requests.get(f"{platform.url}/api/v1/tracks/{track_id}", headers=headers, timeout=10).json()["status"]
        if status == "ready":
            return time.perf_counter() - started
        if status in {"rejected", "failed"}:
            raise RuntimeError(f"save {n} ended {status}")
        time.sleep(poll_s)
    raise RuntimeError(f"save {n} not ready in {limit_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=20, help="timed saves")
    parser.add_argument("--warmup", type=int, default=1, help="saves before them, not counted (cold start)")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each WAV")
    parser.add_argument("--poll-ms", type=float, default=50.0)
    parser.add_argument("--limit-s", type=float, default=300.0, help="a save not ready by then fails the run")
    args = parser.parse_args()

    amqp_base, amqp_container = infra.amqp_base_url()
    amqp_url, drop_vhost = infra.make_vhost(amqp_base)
    admin_url, pg_container = infra.postgres_admin_url()
    s3_url, s3_server = infra.s3_url()
    times = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="beatpass-bench-ready-") as tmp,
            new_platform(admin_url, amqp_url, s3_url, Path(tmp)) as platform,
        ):
            platform.start_all()
            for n in range(args.warmup + args.saves):
                audio = beat_wav(args.seconds, seed=1000 + n)  # a different beat each time: no duplicates
                elapsed = _save_to_ready(platform, audio, n, args.poll_ms / 1000, args.limit_s)
                if n >= args.warmup:
                    times.append(elapsed)
                print(
                    f"  save {n + 1 - args.warmup:3d}{' (warm-up)' if n < args.warmup else ''}: {elapsed:6.2f} s",
                    flush=True,
                )
    finally:
        drop_vhost()
        for resource in (s3_server, pg_container, amqp_container):
            if resource is not None:
                resource.stop()
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    print(
        f"save -> ready of a {args.seconds / 60:g}-minute WAV, five services on RabbitMQ, PostgreSQL and S3, "
        f"{len(times)} saves one after another:"
    )
    print(f"  p50 {statistics.median(times):.2f} s, p95 {cuts[18]:.2f} s, max {max(times):.2f} s (goal p95 < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
