"""Fixtures: the gateway and the catalog running in this process on real PostgreSQL and S3."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
import requests

from beatpass_common.auth import mint_dev_token
from beatpass_common.testing import infra


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

    def tus_upload(self, data: bytes, producer: str = "producer-a", chunk_size: int = 2 * 1024 * 1024,
                   filename: str = "file.bin") -> str:
        from tusclient import client as tus

        c = tus.TusClient(f"{self.url}/api/v1/uploads", headers=self.headers(producer))
        uploader = c.uploader(file_stream=io.BytesIO(data), chunk_size=chunk_size, metadata={"filename": filename})
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


@pytest.fixture
def real_settings(s3_settings, postgres_url, _postgres_admin):
    """Gateway and catalog each on a PostgreSQL database of their own, objects in S3."""
    from beatpass_common.testing.infra import create_database, run_id

    catalog_db = create_database(_postgres_admin, f"beatpass_test_{run_id()}")
    yield s3_settings.model_copy(update={
        "upload_database_url": postgres_url, "catalog_database_url": catalog_db,
        "upload_part_bytes": 5 * 1024 * 1024})
    from sqlalchemy.engine import make_url

    infra.drop_database(_postgres_admin, make_url(catalog_db).database)


@pytest.fixture
def stack(real_settings):
    s = start_stack(real_settings)
    yield s
    for runtime in s.runtimes:
        runtime.stop()


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
