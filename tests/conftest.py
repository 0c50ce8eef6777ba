"""Each service as its own OS process (``python -m beatpass_<name>``) against real RabbitMQ,
PostgreSQL and S3, exactly as Kubernetes runs them; logs go to test-artifacts/."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from beatpass_common.auth import mint_dev_token
from beatpass_common.config import Settings
from beatpass_common.testing import infra

SERVICES = ("catalog", "validation", "waveform", "fingerprint", "upload")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "e2e"


@dataclass
class Platform:
    env: dict
    ports: dict
    tmp: Path
    procs: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['upload']}"

    def start(self, name: str, command: list[str] | None = None, **extra_env) -> None:
        log = open(ARTIFACTS / f"{self.tmp.name}-{name}.log", "ab")
        env = {**self.env, "BEATPASS_HTTP_PORT": str(self.ports[name]), **extra_env}
        self.procs[name] = subprocess.Popen(
            command or [sys.executable, "-m", f"beatpass_{name}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        self.logs[name] = log
        self.wait_ready(name)

    def start_all(self, env: dict[str, dict] | None = None) -> None:
        """Every service, each with ``env[name]`` added to its environment."""
        for name in SERVICES:
            self.start(name, **(env or {}).get(name, {}))

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.procs[name].returncode}; see {self.logs[name].name}")
            try:
                if requests.get(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout}s")

    def stop(self, name: str, sig=signal.SIGTERM) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def headers(self, producer: str = "producer-e2e", **kw) -> dict:
        return {
            "Authorization": f"Bearer {mint_dev_token(Settings(jwt_secret=self.env['BEATPASS_JWT_SECRET']), producer, **kw)}"
        }

    def upload(self, data: bytes, name: str, producer: str = "producer-e2e") -> str:
        from tusclient import client as tus

        uploader = tus.TusClient(f"{self.url}/api/v1/uploads", headers=self.headers(producer)).uploader(
            file_stream=io.BytesIO(data), chunk_size=5 * 1024 * 1024, metadata={"filename": name}
        )
        uploader.upload()
        return uploader.url.rsplit("/", 1)[1]

    def track(self, track_id: str, producer: str = "producer-e2e") -> dict:
        return requests.get(f"{self.url}/api/v1/tracks/{track_id}", headers=self.headers(producer), timeout=10).json()

    def wait_track(
        self,
        track_id: str,
        until=lambda t: t["status"] != "processing",
        timeout: float = 120,
        producer: str = "producer-e2e",
    ) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            track = self.track(track_id, producer)
            if until(track):
                return track
            time.sleep(0.3)
        raise AssertionError(f"track {track_id} still {track.get('status')}: {track}")


@contextmanager
def new_platform(postgres_admin: str, amqp_url: str, s3_url: str, tmp_path: Path):
    """A platform of its own: fresh databases and buckets, the vhost's queues emptied; services
    are started by the caller (``Platform.start``) and all stopped at the end."""
    infra.delete_platform_queues(amqp_url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rid = infra.run_id()
    databases = {
        svc: infra.create_database(postgres_admin, f"beatpass_e2e_{svc}_{rid}")
        for svc in ("upload", "fingerprint", "catalog")
    }
    ports = {svc: infra.free_port() for svc in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEATPASS_")}
    env.update(
        {
            "BEATPASS_BUS_URL": amqp_url,
            "BEATPASS_STORAGE_URL": s3_url,
            "BEATPASS_UPLOADS_BUCKET": f"uploads-{rid}",
            "BEATPASS_MEDIA_BUCKET": f"media-{rid}",
            "BEATPASS_JWT_SECRET": f"e2e-secret-{rid}-0123456789abcdef0123456789",
            "BEATPASS_URL_SIGNING_SECRET": f"e2e-urls-{rid}",
            "BEATPASS_INTERNAL_API_SECRET": f"e2e-internal-{rid}",
            "BEATPASS_CATALOG_URL": f"http://127.0.0.1:{ports['catalog']}",
            "BEATPASS_VAR_DIR": str(tmp_path / "var"),
            "BEATPASS_RETRY_DELAYS_S": "[0.5, 1.0]",
            "BEATPASS_OUTBOX_POLL_S": "0.2",
            "BEATPASS_REAPER_INTERVAL_S": "1",
            "PYTHONUNBUFFERED": "1",
            **{f"BEATPASS_{svc.upper()}_DATABASE_URL": url for svc, url in databases.items()},
        }
    )
    platform = Platform(env=env, ports=ports, tmp=tmp_path)
    try:
        yield platform
    finally:
        for name in list(platform.procs):
            platform.stop(name)
        for log in platform.logs.values():
            log.close()
        for url in databases.values():
            infra.drop_database(postgres_admin, make_url(url).database)


@pytest.fixture
def platform_env(amqp_url, s3_url, _postgres_admin, tmp_path):
    with new_platform(_postgres_admin, amqp_url, s3_url, tmp_path) as platform:
        yield platform


@pytest.fixture(scope="session")
def make_platform(amqp_url, s3_url, _postgres_admin):
    """``make_platform(tmp_path)``: new_platform for a module-scoped stack shared by its tests."""
    return partial(new_platform, _postgres_admin, amqp_url, s3_url)


@pytest.fixture
def platform(platform_env):
    platform_env.start_all()
    return platform_env
