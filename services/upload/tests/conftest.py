"""Fixtures: the gateway and the catalog running in this process on real PostgreSQL and S3, and a
gateway as an OS process of its own (to be killed) on the same database and buckets."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from beatpass_common.auth import mint_dev_token
from beatpass_common.testing import infra
from beatpass_common.testing.fixtures import settings_for, with_s3


@dataclass
class Stack:
    url: str
    settings: object
    gateway: object
    runtimes: list

    def token(self, producer: str, **kw) -> str:
        return mint_dev_token(self.settings, producer, **kw)

    def headers(self, producer: str = "producer-a", **kw) -> dict:
        return {"Authorization": f"Bearer {self.token(producer, **kw)}"}

    def tus_upload(
        self,
        data: bytes,
        producer: str = "producer-a",
        chunk_size: int = 2 * 1024 * 1024,
        filename: str = "file.bin",
        **metadata,
    ) -> str:
        from tusclient import client as tus

        c = tus.TusClient(f"{self.url}/api/v1/uploads", headers=self.headers(producer))
        uploader = c.uploader(
            file_stream=io.BytesIO(data), chunk_size=chunk_size, metadata={"filename": filename, **metadata}
        )
        uploader.upload()
        return uploader.url.rsplit("/", 1)[1]

    def save(self, body: dict, producer: str = "producer-a", **headers) -> requests.Response:
        return requests.post(f"{self.url}/api/v1/tracks", json=body, headers={**self.headers(producer), **headers})


def start_stack(settings) -> Stack:
    import beatpass_catalog.service as catalog_service
    import beatpass_upload.service as upload_service

    catalog_port, upload_port = infra.free_port(), infra.free_port()
    settings = settings.model_copy(update={"catalog_url": f"http://127.0.0.1:{catalog_port}"})
    catalog = catalog_service.build(settings.model_copy(update={"http_port": catalog_port}))
    upload = upload_service.build(settings.model_copy(update={"http_port": upload_port}))
    catalog.start()
    upload.start()
    return Stack(f"http://127.0.0.1:{upload_port}", settings, upload.deps, [upload, catalog])


@contextlib.contextmanager
def _real(s3_settings, admin_url: str):
    """Gateway and catalog each on a PostgreSQL database of their own, objects in S3."""
    names = [f"beatpass_test_{infra.run_id()}" for _ in ("upload", "catalog")]
    upload_db, catalog_db = (infra.create_database(admin_url, name) for name in names)
    try:
        yield s3_settings.model_copy(
            update={
                "upload_database_url": upload_db,
                "catalog_database_url": catalog_db,
                "upload_part_bytes": 5 * 1024 * 1024,
                "lease_s": 1.0,
            }
        )
    finally:
        for name in names:
            infra.drop_database(admin_url, name)


@contextlib.contextmanager
def _running(settings):
    s = start_stack(settings)
    try:
        yield s
    finally:
        for runtime in s.runtimes:
            runtime.stop()


@pytest.fixture
def real_settings(s3_settings, _postgres_admin):
    with _real(s3_settings, _postgres_admin) as settings:
        yield settings


@pytest.fixture
def stack(real_settings):
    with _running(real_settings) as s:
        yield s


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory, s3_url, _postgres_admin):
    """One stack for a whole module, for tests that only read or add records of their own (each
    start costs seconds); such a module names it its ``stack``."""
    settings = with_s3(settings_for(tmp_path_factory.mktemp("stack")), s3_url)
    with _real(settings, _postgres_admin) as real, _running(real) as s:
        yield s


@pytest.fixture
def stack_factory():
    """Start stacks at will (e.g. to restart the gateway); all are stopped at the end."""
    started: list[Stack] = []

    def start(settings) -> Stack:
        started.append(start_stack(settings))
        return started[-1]

    yield start
    for s in started:
        for runtime in s.runtimes:
            runtime.stop()


@dataclass
class GatewayProcess:
    proc: subprocess.Popen
    url: str

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as when a pod is OOM-killed or its node dies."""
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def gateway_process(tmp_path):
    """``start(settings, **overrides)``: ``python -m beatpass_upload`` with ``settings`` as its
    environment, ready to serve; every one still running is killed at the end."""
    started: list[GatewayProcess] = []

    def start(settings, **overrides) -> GatewayProcess:
        port = infra.free_port()
        settings = settings.model_copy(update={"http_port": port, **overrides})
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEATPASS_")}
        for name, value in settings.model_dump(mode="json").items():
            if value is not None:
                env[f"BEATPASS_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
        log = open(Path(tmp_path) / f"gateway-{port}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "beatpass_upload"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        log.close()
        started.append(GatewayProcess(proc, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the gateway exited with {proc.returncode}; see {log.name}"
            try:
                if requests.get(f"{started[-1].url}/readyz", timeout=1).status_code == 200:
                    return started[-1]
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the gateway was not ready in 60 s; see {log.name}")

    yield start
    for gateway in started:
        if gateway.proc.poll() is None:
            gateway.kill()
