"""Wires the validation handlers to the bus, object storage and their supervised child process."""

from __future__ import annotations

from functools import partial
from typing import Callable

from prometheus_client import Counter

from beatpass_common.bus import Bus
from beatpass_common.config import Settings
from beatpass_common.events import Event
from beatpass_common.isolation import Runner, child_store
from beatpass_common.runner import Runtime

from .handlers import handle_collection_submitted, handle_track_submitted

OUTCOMES = Counter("beatpass_validation_outcomes_total", "Validated and rejected tracks", ["outcome"])
PROBLEMS = Counter("beatpass_validation_problems_total", "Rejection reasons and warnings by code", ["code"])
# What the child imports before its first message (its fixed cost, paid once per child).
PRELOAD = ("beatpass_validation.work", "librosa")


def _counting(publish: Callable[[Event], None]) -> Callable[[Event], None]:
    """Count outcomes and problem codes as they are published (the handler stays free of globals)."""

    def wrapped(event: Event) -> None:
        publish(event)
        data = event.payload()
        OUTCOMES.labels(event.type.split(".", 1)[1]).inc()
        for problem in getattr(data, "errors", []) + getattr(data, "warnings", []):
            PROBLEMS.labels(problem.code).inc()

    return wrapped


def build(settings: Settings) -> Runtime:
    child_store(settings).ensure_bucket(settings.media_bucket)
    bus = Bus(settings, "validation", step="validation")
    runner = Runner.from_settings(settings, preload=PRELOAD)
    deps = {"publish": _counting(bus.publish), "settings": settings, "runner": runner}
    bus.subscribe("validation.tracks", {"track.submitted": partial(handle_track_submitted, **deps)})
    bus.subscribe("validation.collections", {t: partial(handle_collection_submitted, **deps)
                                             for t in ("collection.submitted", "collection.edited")})
    return Runtime("validation", settings, bus=bus, on_stop=[runner.close], interrupts=[runner.terminate], deps=runner)
