"""The event bus on kombu: confirmed publishing, and consumers with retry, parking and drain.

Delivery is at least once. A consumer acknowledges a message only after its handler returned
(the handler commits its own work), so a crash means redelivery, never loss; handlers are
idempotent so redelivery never duplicates anything.

Handlers run on a worker thread of their own while the consumer thread keeps reading the
connection, so AMQP heartbeats flow however long a handler takes; acknowledgements are sent from
the consumer thread (a py-amqp channel is not thread-safe).

Failures (``beatpass_common.errors``):

- a plain exception is retried by parking the message in a TTL wait queue that dead-letters it
  back to the consumer's queue (backoff without blocking the consumer); after the last delay it
  goes to ``<service>.dead`` with the reason and ``step.failed`` is published;
- an ``Overrun`` (the runtime stopped the work at a hard limit) is retried the same way and
  parked after ``park_after`` overruns;
- a ``PermanentError`` is parked at once;
- a message the broker returned ``park_after`` times (its consumer went away mid-message each
  time: a killed process) is parked without running it again;
- a message that is not a valid event goes straight to ``<service>.dead`` with the reason.

Parked messages are never re-driven automatically; ``python -m beatpass_catalog dead`` lists and
replays them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from kombu import Connection, Consumer, Producer
from kombu.message import Message
from kombu.mixins import ConsumerMixin

from ..errors import Overrun, PermanentError
from ..events import Event, FailureReason, MalformedEvent, StepFailed, StepStarted, new_event, parse_event
from ..logs import event_context, log_context
from . import topology
from .metrics import BusMetrics

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
_running = threading.local()  # on a handler's worker thread: the name of the handler at work
RETRY_HEADER = "x-beatpass-retries"
OVERRUN_HEADER = "x-beatpass-overruns"
REASON_HEADER = "x-beatpass-dead-reason"
FAILURE_HEADER = "x-beatpass-failure"  # events.FailureReason of a parked message
SOURCE_HEADER = "x-beatpass-source-queue"
# Set by RabbitMQ quorum queues on a redelivered message: how often it was returned unacknowledged.
DELIVERY_COUNT_HEADER = "x-delivery-count"

_RETRY_POLICY = {"max_retries": 10, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3.0}
# How often the consumer thread looks at a running handler (the connection is read in between).
_BUSY_POLL_S = 0.02
_IDLE_POLL_S = 1.0


def _connect(url: str, heartbeat: int, ssl: bool | dict = False) -> Connection:
    """``ssl``: kombu's option for amqps:// URLs (``Settings.bus_ssl()``)."""
    amqp = url.startswith(("amqp", "pyamqp"))
    return Connection(
        url, transport_options={"confirm_publish": True} if amqp else {}, heartbeat=heartbeat if amqp else 0, ssl=ssl
    )


def is_memory(url: str) -> bool:
    return url.startswith("memory://")


def handler_name(handler: Callable) -> str:
    """The function's name, through ``functools.partial`` (how services bind dependencies)."""
    while isinstance(handler, partial):
        handler = handler.func
    return getattr(handler, "__name__", type(handler).__name__)


def running_handler() -> str | None:
    """The name of the handler running on this thread, None outside a handler."""
    return getattr(_running, "name", None)


class Publisher:
    """Publishes events with publisher confirms; thread-safe; reconnects on its own.

    A keeper thread reads the connection every third of the heartbeat interval (answering the
    broker's heartbeats) and records whether it is alive, which readiness reports.
    """

    def __init__(
        self,
        url: str,
        metrics: BusMetrics | None = None,
        *,
        heartbeat: int = 30,
        ssl: bool | dict = False,
        exchange: str = topology.EVENTS.name,
    ):
        self.url = url
        self.events = topology.events_exchange(exchange)  # Settings.exchange
        self.heartbeat = heartbeat
        self._conn = _connect(url, heartbeat, ssl)
        self._lock = threading.Lock()
        self._metrics = metrics
        self._alive = True
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def declare(self) -> None:
        """Declare every exchange and queue of the platform (idempotent)."""
        with self._lock:
            channel = self._conn.default_channel
            for exchange in (self.events, topology.RETRY, topology.DEAD):
                exchange(channel).declare()
            for queue in topology.all_queues(self.events):
                queue(channel).declare()

    def start_keeper(self) -> None:
        if is_memory(self.url) or self._keeper is not None:
            return
        self._keeper = threading.Thread(target=self._keep_alive, name="bus-publisher-keeper", daemon=True)
        self._keeper.start()

    def _keep_alive(self) -> None:
        interval = max(1.0, self.heartbeat / 3)
        while not self._stop.wait(interval):
            with self._lock:
                try:
                    self._conn.ensure_connection(max_retries=1)
                    with contextlib.suppress(TimeoutError):
                        self._conn.drain_events(timeout=0.001)
                    self._conn.heartbeat_check()
                    self._alive = True
                except Exception as exc:  # noqa: BLE001 - any failure: dead until the next tick reconnects
                    if self._alive:
                        log.warning("publisher connection lost: %s", exc)
                    self._alive = False
                    self._conn.collect()

    def publish(self, event: Event) -> None:
        self.publish_raw(event.to_json(), self.events, event.type, headers={}, message_id=event.id)
        if self._metrics:
            self._metrics.published.labels(event.type).inc()
        # One line per event sent, under the request that set it going (and the cause in hand).
        with log_context(request_id=event.request_id):
            log.info("published %s %s", event.type, event.id)

    def publish_raw(
        self, body: bytes, exchange, routing_key: str, headers: dict, message_id: str | None = None, declare=()
    ) -> None:
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
            self._alive = True

    def connected(self) -> bool:
        return self._alive and self._conn.connected

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._conn.release()


@dataclass
class Subscription:
    queue: str  # a name from topology.QUEUES
    handlers: dict[str, Handler]  # event type -> handler


@dataclass
class _InHand:
    """A message whose handler was submitted to the worker thread and not yet settled."""

    message: Message
    event: Event
    headers: dict
    future: Future
    handler: str  # handler_name of the function at work
    received: float = field(default_factory=time.monotonic)
    started: float | None = None  # when the worker thread began the handler
    abandoned: bool = False  # returned to the queue at shutdown: ignore the outcome


class QueueConsumer(ConsumerMixin):
    """Consumes one queue in its own thread; ``drain()`` lets the handler in hand finish, then stops.

    ``step``: the processing step this consumer performs (validation, waveform, fingerprint);
    it announces ``step.started`` for the events in ``topology.STEP_STARTERS``.
    """

    def __init__(
        self,
        url: str,
        subscription: Subscription,
        publisher: Publisher,
        *,
        prefetch: int,
        retry_delays: list[float],
        metrics: BusMetrics,
        step: str | None = None,
        park_after: int = 2,
        heartbeat: int = 30,
        ssl: bool | dict = False,
    ):
        self.connection = _connect(url, heartbeat, ssl)
        self.sub = subscription
        self.spec = topology.spec(subscription.queue)
        self.publisher = publisher
        self.prefetch = prefetch
        self.retry_delays = list(retry_delays)
        self.metrics = metrics
        self.step = step
        self.park_after = park_after
        self.consuming = threading.Event()
        self.last_loop = time.monotonic()
        self._in_hand: list[_InHand] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"handle-{self.spec.name}")
        self._timers: list[threading.Timer] = []
        self._draining = threading.Event()
        self._drain_until = 0.0
        self._on_overdue: Callable[[], None] | None = None

    # kombu's ConsumerMixin reconnects and re-declares on connection loss.
    def get_consumers(self, Consumer_: Callable[..., Consumer], channel) -> list[Consumer]:
        return [
            Consumer_(
                queues=[topology.consumer_queue(self.spec, self.publisher.events)],
                on_message=self.on_message,
                prefetch_count=self.prefetch,
                accept=["json"],
            )
        ]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        self.consuming.set()

    def on_connection_error(self, exc, interval) -> None:
        self.consuming.clear()
        log.warning("bus connection lost (%s); reconnecting in %.1fs", exc, interval)

    def consume(self, limit=None, timeout=None, safety_interval=_IDLE_POLL_S, **kwargs):
        """ConsumerMixin's loop, reading the connection often while a handler runs."""
        cancelled = False
        with self.consumer_context(**kwargs) as (conn, _channel, consumers):
            while not self.should_stop:
                self.last_loop = time.monotonic()
                self._settle()
                if self._draining.is_set():
                    if not cancelled:  # take nothing new; prefetched messages return on close
                        for consumer in consumers:
                            consumer.cancel()
                        cancelled = True
                    if self._drained():
                        self.should_stop = True
                        break
                try:
                    conn.drain_events(timeout=_BUSY_POLL_S if self._in_hand else safety_interval)
                except TimeoutError:
                    conn.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                yield

    # ---- stopping -------------------------------------------------------------------------

    def drain(self, grace_s: float, on_overdue: Callable[[], None] | None = None) -> None:
        """Stop taking messages; give the handler in hand ``grace_s``, then call ``on_overdue``
        (which kills supervised children) and return its message to the queue."""
        self._drain_until = time.monotonic() + grace_s
        self._on_overdue = on_overdue
        self._draining.set()
        for timer in self._timers:
            timer.cancel()

    def stop(self) -> None:
        self.drain(0.0)

    def _drained(self) -> bool:
        for item in list(self._in_hand):
            if item.future.cancel():  # queued behind the running one, never started
                self._return(item)
        if not self._in_hand:
            return True
        if time.monotonic() < self._drain_until:
            return False
        log.warning("grace period over with %d message(s) in hand: stopping them", len(self._in_hand))
        if self._on_overdue is not None:
            self._on_overdue()
        for item in list(self._in_hand):
            self._return(item)
        return True

    def _return(self, item: _InHand) -> None:
        """Put a message back for redelivery without counting a delivery against it: a copy goes
        back through the retry exchange (headers kept) and the original is acknowledged."""
        item.abandoned = True
        self._in_hand.remove(item)
        self.publisher.publish_raw(item.message.body, topology.RETRY, self.spec.name, _carried(item.headers))
        self._ack(item.message)

    # ---- health -----------------------------------------------------------------------------

    def busy_for(self) -> float:
        """Seconds the running handler has been at work (0 when idle)."""
        now = time.monotonic()
        return max((now - i.started for i in self._in_hand if i.started is not None), default=0.0)

    def stalled_for(self) -> float:
        """Seconds since the consumer thread last went round its loop while consuming."""
        return time.monotonic() - self.last_loop if self.consuming.is_set() else 0.0

    # ---- messages ---------------------------------------------------------------------------

    def on_message(self, message) -> None:
        try:
            self._receive(message)
        except Exception as exc:  # the broker or the publisher failed: reconnect, the message returns
            log.exception("could not take a message from %s", self.spec.name)
            raise ConnectionError(f"bus trouble while taking a message: {exc}") from exc

    def _receive(self, message) -> None:
        headers = dict(message.headers or {})
        try:
            event = parse_event(message.body)
        except MalformedEvent as exc:
            log.error("malformed message on %s dead-lettered: %s", self.spec.name, exc)
            self._dead_letter(message.body, headers, f"malformed: {exc}", "error")
            self.metrics.failed.labels("malformed", "malformed").inc()
            self._ack(message)
            return
        handler = self.sub.handlers.get(event.type)
        with event_context(event):
            if handler is None:  # bound but unhandled: a topology/handler mismatch, keep it visible
                log.error("no handler for %s on %s; dead-lettered", event.type, self.spec.name)
                self._dead_letter(message.body, headers, f"no handler for {event.type}", "error")
                self._ack(message)
                return
            returned = int(headers.get(DELIVERY_COUNT_HEADER) or 0)
            if returned >= self.park_after:
                self._park(
                    message,
                    event,
                    headers,
                    "worker_died",
                    f"delivered {returned + 1} times: its worker went away mid-message each time",
                )
                return
            self._announce_start(event, headers, returned)
        item = _InHand(message, event, headers, Future(), handler_name(handler))
        item.future = self._worker.submit(self._handle, handler, item)
        self._in_hand.append(item)

    def _handle(self, handler: Handler, item: _InHand) -> None:
        item.started = time.monotonic()
        _running.name = item.handler
        try:
            with event_context(item.event):
                handler(item.event)
        finally:
            _running.name = None

    def _announce_start(self, event: Event, headers: dict, returned: int) -> None:
        if self.step is None or event.type not in topology.STEP_STARTERS or event.track_id is None:
            return
        # One id per try, so a retry or redelivery restarts the step's deadline.
        tries = f"{headers.get(RETRY_HEADER, 0)}/{returned}"
        started = new_event(
            "step.started",
            StepStarted(step=self.step),
            producer_id=event.producer_id,
            track_id=event.track_id,
            collection_id=event.collection_id,
            caused_by=event,
            id=str(uuid.uuid5(uuid.UUID(event.id), f"step.started/{tries}")),
        )
        self.publisher.publish(started)

    def _settle(self) -> None:
        """Acknowledge or fail the handlers that finished (on the consumer thread)."""
        busy = 0.0
        for item in list(self._in_hand):
            if not item.future.done():
                busy = max(busy, time.monotonic() - (item.started or time.monotonic()))
                continue
            self._in_hand.remove(item)
            if item.abandoned:
                continue
            if not _channel_open(item.message):
                log.warning("connection lost while %s was handled; the broker redelivers it", item.event.type)
                continue
            duration = time.monotonic() - (item.started or item.received)
            self.metrics.duration.labels(item.event.type).observe(duration)
            exc = item.future.exception()
            self.metrics.handler_runs.labels(item.handler, _result(exc)).observe(duration)
            with event_context(item.event):
                if exc is None:
                    self.metrics.consumed.labels(item.event.type).inc()
                    self._ack(item.message)
                    log.info("handled %s in %.3f s", item.event.type, duration)
                else:
                    self._on_failure(item, exc)
        self.metrics.busy.labels(self.spec.name).set(busy)

    def _on_failure(self, item: _InHand, exc: BaseException) -> None:
        event, headers, message = item.event, item.headers, item.message
        error = f"{type(exc).__name__}: {exc}"
        retries = int(headers.get(RETRY_HEADER, 0))
        overruns = int(headers.get(OVERRUN_HEADER, 0))
        if isinstance(exc, Overrun):
            overruns += 1
            self.metrics.overruns.labels(event.type, exc.reason).inc()
            log.error(
                "handler for %s stopped at a hard limit (%s), overrun %d of %d",
                event.type,
                error,
                overruns,
                self.park_after,
            )
            if overruns >= self.park_after:
                self._park(message, event, headers, exc.reason, f"{error} ({overruns} times)", attempts=retries + 1)
                return
        elif isinstance(exc, PermanentError):
            self._park(message, event, headers, exc.reason, error, attempts=retries + 1)
            return
        if retries < len(self.retry_delays):
            delay = self.retry_delays[retries]
            self.metrics.failed.labels(event.type, "retry").inc()
            log.warning("handler for %s failed (%s); retry %d in %.1fs", event.type, error, retries + 1, delay)
            self._schedule_retry(
                message.body, {**_carried(headers), RETRY_HEADER: retries + 1, OVERRUN_HEADER: overruns}, delay
            )
            self._ack(message)
            return
        reason: FailureReason = exc.reason if isinstance(exc, Overrun) else "error"
        self._park(message, event, headers, reason, f"{error} (after {retries + 1} attempts)", attempts=retries + 1)

    def _park(
        self, message, event: Event, headers: dict, reason: FailureReason, error: str, *, attempts: int = 1
    ) -> None:
        """Dead-letter ``message`` for good and tell the catalog its step failed."""
        log.error("parked %s in %s: %s", event.type, topology.dead_queue_name(self.spec.service), error)
        self.metrics.failed.labels(event.type, "dead").inc()
        self.metrics.parked.labels(reason).inc()
        self._dead_letter(message.body, headers, error, reason)
        if event.type != "step.failed":
            failed = new_event(
                "step.failed",
                StepFailed(
                    step=self.step or self.spec.service,
                    error=error[:1000],
                    attempts=attempts,
                    source_event_id=event.id,
                    source_type=event.type,
                    reason=reason,
                    parked=True,
                ),
                producer_id=event.producer_id,
                track_id=event.track_id,
                collection_id=event.collection_id,
                caused_by=event,
            )
            self.publisher.publish(failed)
        self._ack(message)

    def _schedule_retry(self, body: bytes, headers: dict, delay: float) -> None:
        if is_memory(self.publisher.url):  # the in-memory transport has no TTL: wait in a timer
            timer = threading.Timer(
                delay, self.publisher.publish_raw, args=(body, topology.RETRY, self.spec.name, headers)
            )
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
            return
        wait = topology.wait_queue(self.spec.name, delay)
        self.publisher.publish_raw(body, "", wait.name, headers, declare=[wait])

    def _dead_letter(self, body, headers: dict, reason: str, failure: str) -> None:
        self.metrics.dead_lettered.inc()
        dead = topology.dead_queue_name(self.spec.service)
        self.publisher.publish_raw(
            body if isinstance(body, bytes) else str(body).encode(),
            topology.DEAD,
            dead,
            {**headers, REASON_HEADER: reason[:1000], FAILURE_HEADER: failure, SOURCE_HEADER: self.spec.name},
        )

    @staticmethod
    def _ack(message) -> None:
        try:
            message.ack()
        except Exception as exc:  # noqa: BLE001 - the channel died: the broker redelivers, handlers are idempotent
            log.warning("acknowledgement lost (%s); the message will be redelivered", exc)


def _result(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, Overrun):
        return "overrun"
    return "permanent" if isinstance(exc, PermanentError) else "error"


def _carried(headers: dict) -> dict:
    """Headers for a copy of a message: the broker's delivery count belongs to the original."""
    return {k: v for k, v in headers.items() if k != DELIVERY_COUNT_HEADER}


def _channel_open(message) -> bool:
    channel = getattr(message, "channel", None)
    return bool(getattr(channel, "is_open", True))


class DeadLetterWatch(ConsumerMixin):
    """Reports what the broker dead-lettered on its own (a quorum queue's delivery limit).

    ``<service>.dead.notices`` receives a copy of every dead letter of the service; the ones
    this runtime parked itself carry ``x-beatpass-dead-reason`` and were reported already. The
    others are counted and reported as ``step.failed`` like any other parked message.
    """

    def __init__(
        self,
        url: str,
        service: str,
        publisher: Publisher,
        metrics: BusMetrics,
        *,
        step: str | None,
        heartbeat: int = 30,
        ssl: bool | dict = False,
    ):
        self.connection = _connect(url, heartbeat, ssl)
        self.service, self.publisher, self.metrics, self.step = service, publisher, metrics, step
        self.consuming = threading.Event()

    def get_consumers(self, Consumer_: Callable[..., Consumer], channel) -> list[Consumer]:
        return [
            Consumer_(
                queues=[topology.dead_notice_queue(self.service)],
                on_message=self.on_message,
                prefetch_count=16,
                accept=["json"],
            )
        ]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        self.consuming.set()

    def on_connection_error(self, exc, interval) -> None:
        self.consuming.clear()

    def drain(self, grace_s: float = 0.0, on_overdue=None) -> None:
        self.should_stop = True

    def on_message(self, message) -> None:
        headers = dict(message.headers or {})
        if REASON_HEADER not in headers:
            death = (headers.get("x-death") or [{}])[0]
            why = f"the broker dead-lettered it ({death.get('reason', 'unknown')} on {death.get('queue', '?')})"
            log.error("%s", why)
            self.metrics.dead_lettered.inc()
            self.metrics.parked.labels("worker_died").inc()
            try:
                event = parse_event(message.body)
            except MalformedEvent:
                event = None
            if event is not None and event.type != "step.failed":
                self.publisher.publish(
                    new_event(
                        "step.failed",
                        StepFailed(
                            step=self.step or self.service,
                            error=why,
                            attempts=topology.DELIVERY_LIMIT,
                            source_event_id=event.id,
                            source_type=event.type,
                            reason="worker_died",
                            parked=True,
                        ),
                        producer_id=event.producer_id,
                        track_id=event.track_id,
                        collection_id=event.collection_id,
                        caused_by=event,
                    )
                )
        message.ack()
