"""Exchanges and queues, in one table so every process declares the same topology.

Each service declares all of it at start-up (declarations are idempotent), so no event is
published into a queue that does not exist yet, whatever order the processes start in.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue, binding

from ..config import Settings


def events_exchange(name: str) -> Exchange:
    """The topic exchange events are published to (``Settings.exchange``); routing key = event type."""
    return Exchange(name, "topic", durable=True)


# The events exchange under the default ``Settings.exchange``: for tools and tests that use the
# defaults. A service uses its settings' (``Bus`` passes ``settings.exchange`` down).
EVENTS = events_exchange(Settings.model_fields["exchange"].default)
# A message that waited out its retry delay comes back through here to its one queue only.
RETRY = Exchange("beatpass.retry", "direct", durable=True)
DEAD = Exchange("beatpass.dead", "direct", durable=True)

# Broker-side redeliveries of an unacknowledged message (a consumer that died mid-message)
# before the quorum queue dead-letters it. A constant: every declaration must agree.
DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class QueueSpec:
    name: str  # "<service>.<purpose>"
    event_types: tuple[str, ...]

    @property
    def service(self) -> str:
        return self.name.split(".", 1)[0]


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("upload.outcomes", ("track.ready", "track.rejected", "track.failed", "track.removed")),
    QueueSpec("validation.tracks", ("track.submitted",)),
    # collection.edited: a new album cover is checked like a saved collection's.
    QueueSpec("validation.collections", ("collection.submitted", "collection.edited")),
    QueueSpec("waveform.tracks", ("track.validated",)),
    # track.ready: a duplicate accepted on dispute joins the fingerprint index.
    QueueSpec("fingerprint.tracks", ("track.validated", "track.removed", "track.ready")),
    QueueSpec(
        "catalog.records",
        (
            "track.submitted",
            "track.edited",
            "collection.submitted",
            "collection.edited",
            "collection.validated",
            "collection.rejected",
            "track.validated",
            "track.rejected",
            "waveform.generated",
            "fingerprint.completed",
            "step.started",
            "step.failed",
        ),
    ),
)


# Events that start a track's processing step on the queue that takes them: the worker announces
# step.started when it takes one (the catalog starts the step's deadline then).
STEP_STARTERS = ("track.submitted", "track.validated")


def spec(name: str) -> QueueSpec:
    for q in QUEUES:
        if q.name == name:
            return q
    raise KeyError(name)


def dead_queue_name(service: str) -> str:
    return f"{service}.dead"


def consumer_queue(q: QueueSpec, events: Exchange = EVENTS) -> Queue:
    return Queue(
        q.name,
        bindings=[binding(events, routing_key=t) for t in q.event_types] + [binding(RETRY, routing_key=q.name)],
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD.name,
            "x-dead-letter-routing-key": dead_queue_name(q.service),
        },
    )


def dead_queue(service: str) -> Queue:
    name = dead_queue_name(service)
    return Queue(name, DEAD, routing_key=name, durable=True, queue_arguments={"x-queue-type": "quorum"})


def dead_notice_queue(service: str) -> Queue:
    """A copy of every dead letter of ``service``, so the runtime reports the ones the broker
    dead-lettered by itself (``<service>.dead`` keeps the originals for operators)."""
    dead = dead_queue_name(service)
    return Queue(f"{dead}.notices", DEAD, routing_key=dead, durable=True, queue_arguments={"x-queue-type": "quorum"})


def wait_queue(queue_name: str, delay_s: float) -> Queue:
    """Holds a failed message for ``delay_s`` then dead-letters it back to ``queue_name``."""
    ms = max(1, int(delay_s * 1000))
    return Queue(
        f"{queue_name}.wait.{ms}ms",
        durable=True,
        queue_arguments={
            "x-message-ttl": ms,
            "x-dead-letter-exchange": RETRY.name,
            "x-dead-letter-routing-key": queue_name,
        },
    )


def all_queues(events: Exchange = EVENTS) -> list[Queue]:
    services = sorted({q.service for q in QUEUES})
    return (
        [consumer_queue(q, events) for q in QUEUES]
        + [dead_queue(s) for s in services]
        + [dead_notice_queue(s) for s in services]
    )
