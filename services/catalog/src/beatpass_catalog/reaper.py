"""Nothing stays stuck in silence: re-drive overdue steps, then fail them with a message.

A step is overdue when it has been running past its deadline. The reaper re-publishes the event
that starts it (safe: every consumer is idempotent) up to ``redrive_limit`` times, then marks the
step failed so the producer sees why and can retry the item.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from functools import lru_cache

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from beatpass_common.events import parse_event

from .handlers import Deps
from .models import Step, Track
from .records import Records, failed_message, now

log = logging.getLogger(__name__)

STARTING_EVENT = {"validation": "submitted_event", "waveform": "validated_event", "fingerprint": "validated_event"}


@lru_cache
def reaper_metrics():
    return (
        Gauge("beatpass_catalog_tracks", "Tracks by status", ["status"]),
        Gauge("beatpass_catalog_overdue_steps", "Steps running past their deadline", ["step"]),
        Counter("beatpass_catalog_redrives_total", "Overdue steps re-driven", ["step"]),
        Counter("beatpass_catalog_steps_timed_out_total", "Steps failed after their last re-drive", ["step"]),
    )


def reap(deps: Deps) -> int:
    """One pass; returns how many steps were re-driven or failed."""
    tracks_gauge, overdue_gauge, redrives, timed_out = reaper_metrics()
    acted = 0
    with deps.factory() as session, session.begin():
        overdue = session.scalars(
            select(Step).join(Track).where(Step.state == "running", Step.deadline_at < now(),
                                           Track.status.in_(["processing", "in_review"]))
            .order_by(Step.deadline_at).limit(200).with_for_update(skip_locked=True, of=Step)
        ).all()
        records = Records(session, deps.outbox, deps.settings)
        for step in overdue:
            track = step.track
            body = getattr(track, STARTING_EVENT[step.name])
            if step.attempts < deps.settings.step_attempts and body:
                step.attempts += 1
                step.deadline_at = now() + timedelta(seconds=deps.settings.step_deadline_s)
                deps.outbox.add(session, parse_event(body))
                redrives.labels(step.name).inc()
                log.warning("re-drove %s step of track %s (attempt %d)", step.name, track.id, step.attempts)
            else:
                records.fail(track, step.name, failed_message(step.name, step.attempts), None)
                records.settle(track)
                timed_out.labels(step.name).inc()
                log.error("%s step of track %s failed after %d attempts", step.name, track.id, step.attempts)
            acted += 1
        records.refresh_collections()
    with deps.factory() as session:
        counts = dict(session.execute(select(Track.status, func.count()).group_by(Track.status)).all())
        for status in ("processing", "ready", "rejected", "failed", "in_review"):
            tracks_gauge.labels(status).set(counts.get(status, 0))
        late = dict(session.execute(select(Step.name, func.count()).where(
            Step.state == "running", Step.deadline_at < now()).group_by(Step.name)).all())
        for name in ("validation", "waveform", "fingerprint"):
            overdue_gauge.labels(name).set(late.get(name, 0))
    if acted:
        deps.outbox.notify()
        deps.on_change()
    return acted


class Reaper:
    def __init__(self, deps: Deps):
        self.deps = deps
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        while not self._stop.wait(self.deps.settings.reaper_interval_s):
            try:
                reap(self.deps)
            except Exception:  # noqa: BLE001 - a database hiccup: try again next pass
                log.exception("reaper pass failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
