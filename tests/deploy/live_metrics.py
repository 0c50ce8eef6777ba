"""Print, as JSON, the metric names the five services export on /metrics.

Starts every service in embedded mode in this process (in-memory bus, SQLite and files under a
temporary directory, no HTTP ports), waits until the catalog's reaper has run once (it registers
the catalog gauges), reads /metrics through each service's WSGI app, then stops them.
Used by tests/deploy/test_deploy.py; run it alone to see what a deployment will expose.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tempfile
import time

os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

from beatpass_common.config import Settings  # noqa: E402

SERVICES = ("catalog", "validation", "waveform", "fingerprint", "upload")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", re.M)
DECLARED = re.compile(r"^# (?:TYPE|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*) ", re.M)


def exported(body: str) -> set[str]:
    return set(SAMPLE.findall(body)) | set(DECLARED.findall(body))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="beatpass-live-metrics-") as tmp:
        base = Settings(var_dir=tmp, bus_url="memory://localhost/", http_port=0, reaper_interval_s=0.2,
                        storage_url="", upload_database_url="", fingerprint_database_url="", catalog_database_url="",
                        dev_mode=True)  # no keys to provision for a look at /metrics
        runtimes = [importlib.import_module(f"beatpass_{name}.service").build(base) for name in SERVICES]
        for rt in runtimes:
            rt.start(serve_http=False)
        try:
            names: dict[str, list[str]] = {}
            deadline = time.monotonic() + 30
            while True:
                for name, rt in zip(SERVICES, runtimes):
                    body = rt.wsgi().test_client().get("/metrics").get_data(as_text=True)
                    names[name] = sorted(exported(body))
                if "beatpass_catalog_tracks" in names["catalog"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            for rt in reversed(runtimes):
                rt.stop()
    json.dump(names, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
