"""The five services' metrics, live, for the deploy checks.

``python live_metrics.py`` prints, as JSON, the metric names each service exports on /metrics:
it starts every service in embedded mode in this process (in-memory bus, SQLite and files under a
temporary directory, no HTTP ports), waits until the catalog's reaper has run once (it registers
the catalog gauges), reads /metrics through each service's WSGI app, then stops them.

``python live_metrics.py --serve`` starts them the same way but serving HTTP, each on an API port
and an ops port of its own (BEATPASS_OPS_PORT, as in Kubernetes), prints one JSON line
``{service: {"http": port, "ops": port}}`` once all are ready, and runs until stdin closes or
SIGTERM: what tests/deploy/test_prometheus_live.py points a real Prometheus at.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time

os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

from beatpass_common.config import Settings
from beatpass_common.testing.infra import free_port

SERVICES = ("catalog", "validation", "waveform", "fingerprint", "upload")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", re.M)
DECLARED = re.compile(r"^# (?:TYPE|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*) ", re.M)


def exported(body: str) -> set[str]:
    return set(SAMPLE.findall(body)) | set(DECLARED.findall(body))


def base_settings(tmp: str, **kw) -> Settings:
    return Settings(
        var_dir=tmp,
        bus_url="memory://localhost/",
        reaper_interval_s=0.2,
        storage_url="",
        upload_database_url="",
        fingerprint_database_url="",
        catalog_database_url="",
        dev_mode=True,
        **kw,
    )  # no keys to provision for a look at /metrics


def names() -> int:
    with tempfile.TemporaryDirectory(prefix="beatpass-live-metrics-") as tmp:
        base = base_settings(tmp, http_port=0)
        runtimes = [importlib.import_module(f"beatpass_{name}.service").build(base) for name in SERVICES]
        for rt in runtimes:
            rt.start(serve_http=False)
        try:
            found: dict[str, list[str]] = {}
            deadline = time.monotonic() + 30
            while True:
                for name, rt in zip(SERVICES, runtimes, strict=True):
                    body = rt.wsgi().test_client().get("/metrics").get_data(as_text=True)
                    found[name] = sorted(exported(body))
                if "beatpass_catalog_tracks" in found["catalog"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            for rt in reversed(runtimes):
                rt.stop()
    json.dump(found, sys.stdout)
    return 0


def serve() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="beatpass-live-serve-") as tmp:
        ports = {name: {"http": free_port(), "ops": free_port()} for name in SERVICES}
        runtimes = []
        for name in SERVICES:
            settings = base_settings(
                tmp,
                http_port=ports[name]["http"],
                ops_port=ports[name]["ops"],
                catalog_url=f"http://127.0.0.1:{ports['catalog']['http']}",
            )
            runtimes.append(importlib.import_module(f"beatpass_{name}.service").build(settings))
        try:
            for rt in runtimes:
                rt.start()
            print(json.dumps(ports), flush=True)
            stop.wait()
        finally:
            for rt in reversed(runtimes):
                rt.stop()
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else names())
