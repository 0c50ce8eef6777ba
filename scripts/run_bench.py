"""``make bench``: every service's benchmark, one after another, printing the ratios each measures
side by side in its own run. Sizes are the issues' unless BEATPASS_BENCH_QUICK=1 (smaller files,
for a quick look; the printed goals refer to the full sizes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = os.environ.get("BEATPASS_BENCH_QUICK") == "1"

BENCHES = [
    (
        "upload gateway",
        "services/upload/bench/bench_upload.py",
        ["--mib", "128", "--rss-mib", "64", "256", "--repeats", "1"] if QUICK else [],
    ),
    (
        "save -> ready (five services on RabbitMQ, PostgreSQL, S3)",
        "services/upload/bench/bench_save_ready.py",
        ["--saves", "5"] if QUICK else [],
    ),
    ("validation", "services/validation/bench/bench_validation.py", ["--minutes", "2"] if QUICK else []),
    ("waveform", "services/waveform/bench/bench_waveform.py", ["--runs", "2"] if QUICK else []),
    (
        "isolation (validation, waveform, fingerprint)",
        "services/validation/bench/bench_isolation.py",
        ["--runs", "3"] if QUICK else [],
    ),
    (
        "fingerprint",
        "services/fingerprint/bench/bench_fingerprint.py",
        ["--tracks", "5000", "--eval-tracks", "3", "--throughput-seconds", "60"] if QUICK else [],
    ),
    (
        "fingerprint shift-robust lookup at 100k tracks on PostgreSQL",
        "services/fingerprint/bench/bench_shifted_scale.py",
        ["--tracks", "5000", "--eval-tracks", "2"] if QUICK else [],
    ),
    (
        "fingerprint workers on PostgreSQL",
        "services/fingerprint/bench/bench_scaling.py",
        ["--tracks", "2000", "--queries", "16", "--repeats", "1"] if QUICK else [],
    ),
]


def main() -> int:
    failed = []
    for title, script, args in BENCHES:
        print(f"\n===== {title} ({script}) =====", flush=True)
        if subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT).returncode != 0:
            failed.append(title)
    if failed:
        print(f"\nbenchmarks that did not finish: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
