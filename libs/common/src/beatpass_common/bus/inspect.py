"""Read-only looks at the broker, for operators and the catalog's reaper (never on a hot path)."""

from __future__ import annotations

import logging

from amqp.exceptions import NotFound
from kombu import Connection

log = logging.getLogger(__name__)


def consumers(bus_url: str, queue: str, *, timeout_s: float, ssl: bool | dict = False) -> int | None:
    """How many consumers ``queue`` has right now, or ``None`` when that cannot be known.

    A passive ``queue.declare`` on its own short-lived connection (connect and answer within
    ``timeout_s`` seconds): it never creates or changes the queue. A queue that does not exist
    has 0 consumers. ``None``: the broker did not answer in time or was unreachable, or the
    transport (e.g. ``memory://``) cannot tell. ``ssl``: ``Settings.bus_ssl()``.
    """
    conn = Connection(bus_url, connect_timeout=timeout_s, ssl=ssl)
    if conn.transport.driver_type != "amqp":
        return None
    try:
        with conn:
            conn.connect()
            conn.connection.sock.settimeout(timeout_s)  # the reply to the declare, too
            try:
                return conn.channel().queue_declare(queue, passive=True).consumer_count
            except NotFound:
                return 0
    except (OSError, *conn.connection_errors, *conn.channel_errors) as exc:
        log.warning("could not count consumers of %s: %s", queue, exc)
        return None
