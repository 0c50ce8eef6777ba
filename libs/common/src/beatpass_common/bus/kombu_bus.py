"""The event bus on kombu: confirmed publishing, and consumers with retry, dead-letter and drain.

Delivery is at least once. A consumer acknowledges a message only after its handler returned
(the handler commits its own work), so a crash means redelivery, never loss; handlers are
idempotent so redelivery never duplicates anything.

A handler failure is retried by parking the message in a TTL wait queue that dead-letters it back
to the consumer's queue (backoff without blocking the consumer). After the last delay the message
goes to ``<service>.dead`` with the reason, and ``step.failed`` is published for its track. A
message that is not a valid event goes straight to ``<service>.dead`` with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from kombu import Connection, Consumer, Producer
from kombu.mixins import ConsumerMixin

from ..events import Event, MalformedEvent, StepFailed, new_event, parse_event
from ..logs import event_context
from . import topology
from .metrics import BusMetrics

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
RETRY_HEADER = "x-beatpass-retries"
REASON_HEADER = "x-beatpass-dead-reason"
SOURCE_HEADER = "x-beatpass-source-queue"

_RETRY_POLICY = {"max_retries": 10, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3.0}


def _connect(url: str) -> Connection:
    options = {"confirm_publish": True} if url.startswith(("amqp", "pyamqp")) else {}
    return Connection(url, transport_options=options, heartbeat=30 if url.startswith("amqp") else 0)


def is_memory(url: str) -> bool:
    return url.startswith("memory://")


class Publisher:
    """Publishes events with publisher confirms; thread-safe; reconnects on its own."""

    def __init__(self, url: str, metrics: BusMetrics | None = None):
        self.url = url
        self._conn = _connect(url)
        self._lock = threading.Lock()
        self._metrics = metrics

    def declare(self) -> None:
        """Declare every exchange and queue of the platform (idempotent)."""
        with self._lock:
            channel = self._conn.default_channel
            for exchange in (topology.EVENTS, topology.RETRY, topology.DEAD):
                exchange(channel).declare()
            for queue in topology.all_queues():
                queue(channel).declare()

    def publish(self, event: Event) -> None:
        self.publish_raw(event.to_json(), topology.EVENTS, event.type, headers={}, message_id=event.id)
        if self._metrics:
            self._metrics.published.labels(event.type).inc()

    def publish_raw(self, body: bytes, exchange, routing_key: str, headers: dict, message_id: str | None = None,
                    declare=()) -> None:
        with self._lock:
            producer = Producer(self._conn.default_channel)
            self._conn.ensure(producer, producer.publish, **_RETRY_POLICY)(
                body,
                exchange=exchange,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                headers=headers,
                message_id=message_id,
                declare=list(declare),
            )

    def connected(self) -> bool:
        return self._conn.connected

    def close(self) -> None:
        with self._lock:
            self._conn.release()


@dataclass
class Subscription:
    queue: str  # a name from topology.QUEUES
    handlers: dict[str, Handler]  # event type -> handler


class QueueConsumer(ConsumerMixin):
    """Consumes one queue in its own thread; ``stop()`` finishes the message in hand, then returns."""

    def __init__(self, url: str, subscription: Subscription, publisher: Publisher, *, prefetch: int,
                 retry_delays: list[float], metrics: BusMetrics, step: str | None = None):
        self.connection = _connect(url)
        self.sub = subscription
        self.spec = topology.spec(subscription.queue)
        self.publisher = publisher
        self.prefetch = prefetch
        self.retry_delays = list(retry_delays)
        self.metrics = metrics
        self.step = step or self.spec.service
        self.consuming = threading.Event()
        self._timers: list[threading.Timer] = []

    # kombu's ConsumerMixin reconnects and re-declares on connection loss.
    def get_consumers(self, Consumer_: type[Consumer], channel) -> list[Consumer]:
        return [Consumer_(queues=[topology.consumer_queue(self.spec)], on_message=self.on_message,
                          prefetch_count=self.prefetch, accept=["json"])]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        self.consuming.set()

    def on_connection_error(self, exc, interval) -> None:
        self.consuming.clear()
        log.warning("bus connection lost (%s); reconnecting in %.1fs", exc, interval)

    def stop(self) -> None:
        self.should_stop = True
        for timer in self._timers:
            timer.cancel()

    def on_message(self, message) -> None:
        started = time.perf_counter()
        headers = dict(message.headers or {})
        retries = int(headers.get(RETRY_HEADER, 0))
        try:
            event = parse_event(message.body)
        except MalformedEvent as exc:
            log.error("malformed message on %s dead-lettered: %s", self.spec.name, exc)
            self._dead_letter(message.body, headers, f"malformed: {exc}")
            self.metrics.failed.labels("malformed", "malformed").inc()
            message.ack()
            return
        handler = self.sub.handlers.get(event.type)
        with event_context(event):
            if handler is None:  # bound but unhandled: a topology/handler mismatch, keep it visible
                log.error("no handler for %s on %s; dead-lettered", event.type, self.spec.name)
                self._dead_letter(message.body, headers, f"no handler for {event.type}")
                message.ack()
                return
            try:
                handler(event)
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then reported
                self._on_failure(message, event, headers, retries, exc)
                self.metrics.failed.labels(event.type, "retry" if retries < len(self.retry_delays) else "dead").inc()
            else:
                self.metrics.consumed.labels(event.type).inc()
                message.ack()
            finally:
                self.metrics.duration.labels(event.type).observe(time.perf_counter() - started)

    def _on_failure(self, message, event: Event, headers: dict, retries: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if retries < len(self.retry_delays):
            delay = self.retry_delays[retries]
            log.warning("handler for %s failed (%s); retry %d in %.1fs", event.type, error, retries + 1, delay)
            self._schedule_retry(message.body, {**headers, RETRY_HEADER: retries + 1}, delay)
        else:
            log.error("handler for %s failed %d times (%s); dead-lettered", event.type, retries + 1, error)
            self._dead_letter(message.body, headers, error)
            if event.type != "step.failed":
                failed = new_event(
                    "step.failed",
                    StepFailed(step=self.step, error=error, attempts=retries + 1, source_event_id=event.id,
                               source_type=event.type),
                    producer_id=event.producer_id, track_id=event.track_id, collection_id=event.collection_id,
                    caused_by=event,
                )
                self.publisher.publish(failed)
        message.ack()

    def _schedule_retry(self, body: bytes, headers: dict, delay: float) -> None:
        if is_memory(self.publisher.url):  # the in-memory transport has no TTL: wait in a timer
            timer = threading.Timer(delay, self.publisher.publish_raw,
                                    args=(body, topology.RETRY, self.spec.name, headers))
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
            return
        wait = topology.wait_queue(self.spec.name, delay)
        self.publisher.publish_raw(body, "", wait.name, headers, declare=[wait])

    def _dead_letter(self, body, headers: dict, reason: str) -> None:
        self.metrics.dead_lettered.inc()
        dead = topology.dead_queue_name(self.spec.service)
        self.publisher.publish_raw(
            body if isinstance(body, bytes) else str(body).encode(),
            topology.DEAD, dead, {**headers, REASON_HEADER: reason[:1000], SOURCE_HEADER: self.spec.name},
        )
