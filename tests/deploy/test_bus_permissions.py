"""The bus users' permissions of the rendered prod overlay (base/messaging.yaml), on a real broker.

Imports the Permission resources' regular expressions into the local RabbitMQ as a fresh vhost and
one user per service (rabbitmqctl import_definitions: what the Messaging Topology Operator would
set), then, as each user: declares the whole topology the way every service does at start,
publishes an event and a retry (default exchange), consumes its own queues, and is refused any
name outside the platform's. Needs rabbitmqctl on this machine (the local broker of the tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection

sys.path.insert(0, str(Path(__file__).parent))
from deploy_lib import APP_NS, SERVICES, of_kind

from beatpass_common.bus.kombu_bus import Publisher
from beatpass_common.bus.topology import EVENTS, QUEUES, wait_queue
from beatpass_common.testing import infra

pytestmark = pytest.mark.integration


def _ctl(*args: str, timeout: float = 60) -> str:
    proc = subprocess.run(["rabbitmqctl", "--quiet", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _wait_imported(url: str, limit_s: float = 30.0) -> None:
    """The import runs asynchronously in the broker: wait until the last user can open the vhost."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            with Connection(url, connect_timeout=2) as conn:
                conn.connect()
                return
        except Exception:  # not imported yet: refused login or vhost
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def broker():
    """(vhost, {service: amqp url}) with the prod overlay's permissions; removed afterwards."""
    rid = infra.run_id()
    vhost = f"beatpass-perms-{rid}"
    perms = {
        name.removeprefix("beatpass-"): p["spec"]["permissions"]
        for name, p in of_kind("prod", "Permission", APP_NS).items()
    }
    users = {svc: (f"beatpass-{svc}-{rid}", secrets.token_hex(8)) for svc in SERVICES}
    definitions = {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": u,
                "password_hash": _password_hash(pw),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
            for u, pw in users.values()
        ],
        "permissions": [{"user": users[svc][0], "vhost": vhost, **perms[svc]} for svc in SERVICES],
    }
    # rabbitmqctl runs as the broker's user: the file must be readable by it (pytest's tmp is not)
    folder = Path(tempfile.mkdtemp(prefix="beatpass-perms-"))
    path = folder / "definitions.json"
    path.write_text(json.dumps(definitions))
    folder.chmod(0o755)
    path.chmod(0o644)
    try:
        _ctl("import_definitions", str(path))
    finally:
        shutil.rmtree(folder)
    host = os.environ.get("BEATPASS_TEST_AMQP_HOST", "127.0.0.1:5672")
    urls = {svc: f"amqp://{u}:{pw}@{host}/{vhost}" for svc, (u, pw) in users.items()}
    try:
        _wait_imported(urls["catalog"])
        yield vhost, urls
    finally:
        _ctl("delete_vhost", vhost)
        names = ",".join(f'<<"{u}">>' for u, _ in users.values())
        _ctl("eval", f'[rabbit_auth_backend_internal:delete_user(U, <<"beatpass-tests">>) || U <- [{names}]].')


@pytest.mark.parametrize("svc", SERVICES)
def test_each_service_runs_the_topology_and_nothing_else(broker, svc):
    _, urls = broker
    publisher = Publisher(urls[svc])
    try:
        publisher.declare()  # every exchange and queue of the platform, as each service does at start
        publisher.publish_raw(b"{}", EVENTS, "track.removed", headers={})  # write on beatpass.events
    finally:
        publisher.close()
    own = next(q.name for q in QUEUES if q.service == svc)
    with Connection(urls[svc]) as conn:
        channel = conn.channel()
        wait_queue(own, 1.0)(channel).declare()
        channel.basic_publish(channel.prepare_message(b"{}"), exchange="", routing_key=f"{own}.wait.1000ms")
        channel.basic_consume(own, callback=lambda m: None)
        channel.basic_consume(f"{svc}.dead", callback=lambda m: None)
        with pytest.raises(AccessRefused):
            conn.channel().queue_declare("other.tracks", durable=True)
    with Connection(urls[svc]) as conn, pytest.raises(AccessRefused):
        channel = conn.channel()
        channel.basic_publish(channel.prepare_message(b"{}"), exchange="amq.topic", routing_key="x")
        channel.queue_declare(own, passive=True)  # the refusal closes the channel: the next call raises it
    with Connection(urls[svc]) as conn, pytest.raises(AccessRefused):
        conn.channel().exchange_declare("beatpass.other", "topic", durable=True)
