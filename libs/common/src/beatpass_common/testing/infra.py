"""Finds or starts the real infrastructure tests run against, isolated per test run.

Order of preference for each part: the URL given in the environment (BEATPASS_TEST_AMQP_URL,
BEATPASS_TEST_POSTGRES_URL, BEATPASS_TEST_S3_URL); the local server (RabbitMQ and PostgreSQL on
their standard ports; for S3 a moto stand-alone server started here on a free loopback port);
a testcontainers container when a Docker engine is available.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def run_id() -> str:
    return uuid.uuid4().hex[:10]


# ---- RabbitMQ ------------------------------------------------------------------------------


def amqp_base_url() -> tuple[str, object | None]:
    url = os.environ.get("BEATPASS_TEST_AMQP_URL")
    if url:
        return url, None
    if reachable("127.0.0.1", 5672):
        return LOCAL_AMQP, None
    if docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        return f"amqp://guest:guest@{host}:{port}/", container
    raise RuntimeError("no RabbitMQ: set BEATPASS_TEST_AMQP_URL, run one on 127.0.0.1:5672, or start Docker")


def make_vhost(base_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh vhost when rabbitmqctl can make one here; else the base URL's own vhost."""
    parts = urlsplit(base_url)
    if parts.hostname in {"127.0.0.1", "localhost"} and shutil.which("rabbitmqctl") and os.geteuid() == 0:
        vhost = f"beatpass-test-{run_id()}"
        user = parts.username or "guest"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        url = urlunsplit(parts._replace(path="/" + vhost))

        def cleanup():
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)

        return url, cleanup
    return base_url, lambda: None


def close_amqp_connections(url: str) -> bool:
    """Make the broker drop every client connection of ``url``'s vhost (a network failure, seen
    from the clients). Returns False where the broker cannot be driven from here."""
    vhost = urlsplit(url).path.lstrip("/") or "/"
    if not shutil.which("rabbitmqctl"):
        return False
    result = subprocess.run(
        ["rabbitmqctl", "-q", "close_all_connections", "-p", vhost, "test: dropped"], capture_output=True
    )
    return result.returncode == 0


# ---- PostgreSQL ----------------------------------------------------------------------------


def delete_platform_queues(url: str) -> None:
    """Delete every queue of the platform's topology in the vhost at ``url`` (absent ones too)."""
    from kombu import Connection

    from ..bus import topology

    with Connection(url) as conn:
        channel = conn.channel()
        for name in [q.name for q in topology.all_queues()]:
            try:
                channel.queue_delete(name)
            except Exception:  # noqa: BLE001 - absent queue closes the channel on some brokers
                channel = conn.channel()


def postgres_admin_url() -> tuple[str, object | None]:
    url = os.environ.get("BEATPASS_TEST_POSTGRES_URL")
    if url:
        return url, None
    if reachable("127.0.0.1", 5432):
        return LOCAL_POSTGRES, None
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16", driver="psycopg").start()
        return container.get_connection_url(), container
    raise RuntimeError("no PostgreSQL: set BEATPASS_TEST_POSTGRES_URL, run one on 127.0.0.1:5432, or start Docker")


def create_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return str(sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False))


def drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


# ---- S3 ------------------------------------------------------------------------------------


class MotoServer:
    """moto's stand-alone S3 server as a child process on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        exe = Path(sys.executable).with_name("moto_server")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        self.proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", self.port, 0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start")
            time.sleep(0.1)
        self.url = f"http://testing:testing-secret@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def s3_url() -> tuple[str, object | None]:
    url = os.environ.get("BEATPASS_TEST_S3_URL")
    if url:
        return url, None
    server = MotoServer()
    return server.url, server
