"""Bus metrics, named per service (``beatpass_<service>_events_…``) as DESIGN.md asks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from ..events import FailureReason
from ..metrics import HANDLER_BUCKETS


@dataclass(frozen=True)
class BusMetrics:
    consumed: Counter
    published: Counter
    failed: Counter
    dead_lettered: Counter
    duration: Histogram
    overruns: Counter
    parked: Counter
    busy: Gauge
    handler_runs: Histogram  # per handler function: how long, and how it ended
    outcomes: Counter  # the events handlers published, by what they say (track.rejected -> rejected)
    problems: Counter  # the problem codes (errors and warnings) in those events


@lru_cache
def bus_metrics(service: str) -> BusMetrics:
    p = f"beatpass_{service}"
    metrics = BusMetrics(
        consumed=Counter(f"{p}_events_consumed_total", "Events handled successfully", ["type"]),
        published=Counter(f"{p}_events_published_total", "Events published (confirmed by the broker)", ["type"]),
        failed=Counter(f"{p}_events_failed_total", "Event handling failures", ["type", "outcome"]),
        dead_lettered=Counter(f"{p}_dead_lettered_total", "Messages sent to the service's dead-letter queue"),
        duration=Histogram(f"{p}_handler_duration_seconds", "Handler duration", ["type"], buckets=HANDLER_BUCKETS),
        overruns=Counter(f"{p}_handler_overruns_total", "Handler runs stopped at a hard limit", ["type", "reason"]),
        parked=Counter(f"{p}_parked_total", "Messages parked in the dead-letter queue for good", ["reason"]),
        busy=Gauge(
            f"{p}_handler_busy_seconds",
            "How long the handler in progress has run (0 when idle)",
            ["queue"],
            multiprocess_mode="max",
        ),
        handler_runs=Histogram(
            f"{p}_handler_run_seconds",
            "Handler runs by handler function and result (ok, error, overrun, permanent)",
            ["handler", "result"],
            buckets=HANDLER_BUCKETS,
        ),
        outcomes=Counter(f"{p}_outcomes_total", "Events the handlers published, by outcome", ["outcome"]),
        problems=Counter(f"{p}_problems_total", "Rejection reasons and warnings by code", ["code"]),
    )
    # Every label set starts at 0, so increase() sees the first parked message (a series that
    # appears at 1 has no increase).
    for reason in get_args(FailureReason):
        metrics.parked.labels(reason)
    return metrics
