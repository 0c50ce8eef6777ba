"""The platform's event bus: publish events, consume queues (see kombu_bus and topology)."""

from __future__ import annotations

import logging
import threading

from ..config import Settings
from . import topology
from .kombu_bus import Handler, Publisher, QueueConsumer, Subscription
from .metrics import BusMetrics, bus_metrics

log = logging.getLogger(__name__)

__all__ = ["Bus", "Handler", "Publisher", "Subscription", "topology"]


class Bus:
    """One service's connection to the bus: a publisher and one consumer thread per queue."""

    def __init__(self, settings: Settings, service: str, *, step: str | None = None):
        self.settings = settings
        self.service = service
        self.step = step
        self.metrics: BusMetrics = bus_metrics(service)
        self.publisher = Publisher(settings.bus_url, self.metrics)
        self.consumers: list[QueueConsumer] = []
        self._threads: list[threading.Thread] = []

    def declare(self) -> None:
        self.publisher.declare()

    def publish(self, event) -> None:
        self.publisher.publish(event)

    def subscribe(self, queue: str, handlers: dict[str, Handler]) -> None:
        self.consumers.append(QueueConsumer(
            self.settings.bus_url, Subscription(queue, handlers), self.publisher,
            prefetch=self.settings.prefetch, retry_delays=self.settings.retry_delays_s,
            metrics=self.metrics, step=self.step,
        ))

    def start(self) -> None:
        self.declare()
        for consumer in self.consumers:
            thread = threading.Thread(target=consumer.run, name=f"consume-{consumer.spec.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def ready(self) -> bool:
        return all(c.consuming.is_set() for c in self.consumers)

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return all(c.consuming.wait(timeout) for c in self.consumers)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop taking messages, let the ones in hand finish (SIGTERM drain), then close."""
        for consumer in self.consumers:
            consumer.stop()
        for thread in self._threads:
            thread.join(timeout)
        self.publisher.close()
