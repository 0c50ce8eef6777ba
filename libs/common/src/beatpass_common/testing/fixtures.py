"""pytest plugin: real infrastructure fixtures, isolated per test run.

- ``amqp_url``: a vhost of its own on RabbitMQ for the session; ``clean_amqp`` (function) deletes
  the platform's queues in it so each test starts empty.
- ``postgres_url``: a fresh PostgreSQL database per test (function scope).
- ``s3_url``: an S3 endpoint for the session (moto stand-alone server unless configured);
  ``s3_settings`` gives a test its own buckets.
"""

from __future__ import annotations

import pytest

from ..config import Settings
from . import infra


@pytest.fixture(scope="session")
def amqp_url():
    base, container = infra.amqp_base_url()
    url, cleanup = infra.make_vhost(base)
    yield url
    cleanup()
    if container is not None:
        container.stop()


@pytest.fixture
def clean_amqp(amqp_url):
    infra.delete_platform_queues(amqp_url)
    return amqp_url


@pytest.fixture(scope="session")
def _postgres_admin():
    url, container = infra.postgres_admin_url()
    yield url
    if container is not None:
        container.stop()


@pytest.fixture
def postgres_url(_postgres_admin):
    name = f"beatpass_test_{infra.run_id()}"
    url = infra.create_database(_postgres_admin, name)
    yield url
    infra.drop_database(_postgres_admin, name)


@pytest.fixture(scope="session")
def s3_url():
    url, server = infra.s3_url()
    yield url
    if server is not None:
        server.stop()


def settings_for(root) -> Settings:
    """Embedded-mode settings rooted in ``root``, with fast retries and keys of their own (dev mode
    stays off, as in production)."""
    rid = infra.run_id()
    return Settings(
        var_dir=root / "var",
        retry_delays_s=[0.1, 0.2],
        outbox_poll_s=0.05,
        reaper_interval_s=0.2,
        http_port=infra.free_port(),
        jwt_secret=f"test-jwt-{rid}-" + "0" * 32,
        url_signing_secret=f"test-urls-{rid}",
        internal_api_secret=f"test-internal-{rid}",
    )


def with_s3(settings: Settings, s3_url: str) -> Settings:
    """``settings`` storing objects on the S3 server at ``s3_url``, in buckets of their own."""
    rid = infra.run_id()
    return settings.model_copy(
        update={"storage_url": s3_url, "uploads_bucket": f"uploads-{rid}", "media_bucket": f"media-{rid}"}
    )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def s3_settings(settings, s3_url) -> Settings:
    return with_s3(settings, s3_url)
