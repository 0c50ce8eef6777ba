"""The gateway as Kubernetes runs it (gunicorn, two worker processes, BEATPASS_OPS_PORT set):
/healthz, /readyz and /metrics answer on the ops port only, the API on the API port only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from beatpass_common.testing.infra import free_port


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_gunicorn_gateway_serves_ops_routes_only_on_the_ops_port(tmp_path):
    api, ops = free_port(), free_port()
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "BEATPASS_VAR_DIR": str(tmp_path),
        "BEATPASS_DEV_MODE": "true",
        "BEATPASS_HTTP_PORT": str(api),
        "BEATPASS_OPS_PORT": str(ops),
        "BEATPASS_GUNICORN_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:beatpass_upload.gunicorn_conf", "beatpass_upload.wsgi:app"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _status(ops, "/readyz") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-3000:]
            time.sleep(0.3)
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (_status(api, path), _status(ops, path)) == (404, 200), path
        assert (_status(api, "/api/v1/rules"), _status(ops, "/api/v1/rules")) == (200, 404)
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5) as r:
            assert 'route="/api/v1/rules"' in r.read().decode(), "the API request, counted in the multiprocess registry"
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
