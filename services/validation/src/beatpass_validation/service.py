"""Wires the validation handler to the bus and to object storage."""

from __future__ import annotations

from functools import partial
from typing import Callable

from prometheus_client import Counter

from beatpass_common.bus import Bus
from beatpass_common.config import Settings
from beatpass_common.events import Event
from beatpass_common.runner import Runtime
from beatpass_common.storage import ObjectStore, open_store

from .handlers import handle_collection_submitted, handle_track_submitted

OUTCOMES = Counter("beatpass_validation_outcomes_total", "Validated and rejected tracks", ["outcome"])
PROBLEMS = Counter("beatpass_validation_problems_total", "Rejection reasons and warnings by code", ["code"])


def _counting(publish: Callable[[Event], None]) -> Callable[[Event], None]:
    """Count outcomes and problem codes as they are published (the handler stays free of globals)."""

    def wrapped(event: Event) -> None:
        publish(event)
        data = event.payload()
        OUTCOMES.labels(event.type.split(".", 1)[1]).inc()
        for problem in getattr(data, "errors", []) + getattr(data, "warnings", []):
            PROBLEMS.labels(problem.code).inc()

    return wrapped


def build(settings: Settings, *, store: ObjectStore | None = None) -> Runtime:
    store = store or open_store(settings.resolved_storage_url(), settings.storage_region)
    store.ensure_bucket(settings.media_bucket)
    bus = Bus(settings, "validation", step="validation")
    handler = partial(handle_track_submitted, store=store, publish=_counting(bus.publish), settings=settings)
    bus.subscribe("validation.tracks", {"track.submitted": handler})
    album = partial(handle_collection_submitted, store=store, publish=_counting(bus.publish), settings=settings)
    bus.subscribe("validation.collections", {"collection.submitted": album})
    return Runtime("validation", settings, bus=bus)
