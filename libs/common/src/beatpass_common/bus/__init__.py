"""The platform's event bus: publish events, consume queues (see kombu_bus and topology)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..config import Settings
from ..events import Event
from . import topology
from .kombu_bus import DeadLetterWatch, Handler, Publisher, QueueConsumer, Subscription, is_memory, running_handler
from .metrics import BusMetrics, bus_metrics

log = logging.getLogger(__name__)

__all__ = ["Bus", "Handler", "Publisher", "Subscription", "topology"]


class Bus:
    """One service's connection to the bus: a publisher and one consumer thread per queue.

    ``step``: the processing step the service performs (validation, waveform, fingerprint). Such
    workers take ``Settings.audio_prefetch`` messages at a time (one: nothing waits behind a busy
    handler, and the queue's backlog is the real one) and announce ``step.started``.
    """

    def __init__(self, settings: Settings, service: str, *, step: str | None = None):
        self.settings = settings
        self.service = service
        self.step = step
        self.metrics: BusMetrics = bus_metrics(service)
        self.publisher = Publisher(
            settings.bus_url,
            self.metrics,
            heartbeat=settings.bus_heartbeat_s,
            ssl=settings.bus_ssl(),
            exchange=settings.exchange,
        )
        self.consumers: list[QueueConsumer] = []
        # Called with every event a handler publishes (after it is sent): a service's own metrics.
        self.observers: list[Callable[[Event], None]] = []
        self._watch: DeadLetterWatch | None = None
        self._threads: list[threading.Thread] = []
        # The longest a handler may legitimately run: the hard limits of the work it supervises.
        self.busy_limit_s = settings.handler_time_limit_s + settings.estimate_time_limit_s + settings.liveness_slack_s

    def declare(self) -> None:
        self.publisher.declare()

    def publish(self, event: Event) -> None:
        """Publish ``event``. One a handler publishes is counted by outcome (the type's verb:
        ``track.rejected`` -> ``rejected``) and by the codes of its problems, and handed to each
        ``observers`` callable: the runtime keeps the handlers' metrics, not the handlers."""
        self.publisher.publish(event)
        if running_handler() is None:
            return
        self.metrics.outcomes.labels(event.type.split(".", 1)[-1]).inc()
        data = event.payload()
        for problem in [*getattr(data, "errors", []), *getattr(data, "warnings", [])]:
            self.metrics.problems.labels(problem.code).inc()
        for observe in self.observers:
            observe(event)

    def subscribe(self, queue: str, handlers: dict[str, Handler]) -> None:
        for event_type in handlers:  # at 0 from the start, so increase() sees the first overrun
            for reason in ("timeout", "memory", "worker_died"):
                self.metrics.overruns.labels(event_type, reason)
        self.consumers.append(
            QueueConsumer(
                self.settings.bus_url,
                Subscription(queue, handlers),
                self.publisher,
                prefetch=self.settings.audio_prefetch if self.step else self.settings.prefetch,
                retry_delays=self.settings.retry_delays_s,
                metrics=self.metrics,
                step=self.step,
                park_after=self.settings.park_after_overruns,
                heartbeat=self.settings.bus_heartbeat_s,
                ssl=self.settings.bus_ssl(),
            )
        )

    def start(self) -> None:
        self.declare()
        self.publisher.start_keeper()
        runners: list = list(self.consumers)
        if self.consumers and not is_memory(self.settings.bus_url):
            self._watch = DeadLetterWatch(
                self.settings.bus_url,
                self.service,
                self.publisher,
                self.metrics,
                step=self.step,
                heartbeat=self.settings.bus_heartbeat_s,
                ssl=self.settings.bus_ssl(),
            )
            runners.append(self._watch)
        for runner in runners:
            name = getattr(getattr(runner, "spec", None), "name", f"{self.service}.dead.notices")
            thread = threading.Thread(target=runner.run, name=f"consume-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def ready(self) -> bool:
        return all(c.consuming.is_set() for c in self.consumers) and self.publisher.connected()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return all(c.consuming.wait(timeout) for c in self.consumers)

    def live(self) -> dict[str, bool]:
        """Liveness per consumer: false once a handler ran past ``busy_limit_s`` or the consumer
        thread stopped going round its loop (Kubernetes then restarts the process)."""
        return {
            c.spec.name: c.busy_for() <= self.busy_limit_s and c.stalled_for() <= self.settings.liveness_slack_s
            for c in self.consumers
        }

    def stop(self, grace_s: float = 0.0, on_overdue: Callable[[], None] | None = None) -> None:
        """SIGTERM drain: take nothing new, give the handlers in hand ``grace_s``, then call
        ``on_overdue`` (kills supervised children) and return their messages to their queues."""
        for consumer in self.consumers:
            consumer.drain(grace_s, on_overdue)
        if self._watch is not None:
            self._watch.drain()
        for thread in self._threads:
            thread.join(grace_s + 5)
        self.publisher.close()
