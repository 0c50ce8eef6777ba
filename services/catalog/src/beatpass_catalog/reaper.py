"""Nothing stays stuck in silence: re-drive overdue steps a bounded number of times, then fail them.

A step is overdue when it is past its deadline_at:
- running (a worker sent step.started) past ``step_deadline_s``: the worker hung or vanished;
- pending (queued) past ``step_queue_deadline_s`` while its queue HAS consumers: workers are up
  but its message never started. A queue with no consumers (or an unknown count) is a backlog
  while workers are down, not this item's failure: such a step waits, however long.

An overdue step is re-driven (its starting event re-published, safe because every consumer is
idempotent) until it has been sent ``step_attempts`` times in all, then failed with its sentence
(reason ``timeout`` or ``not_started``). Each re-drive raises ``attempts``, so this ends.
A failed step, parked or not, is never re-driven here.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache

from prometheus_client import Counter, Gauge
from sqlalchemy import and_, func, or_, select

from beatpass_common.events import parse_event
from beatpass_common.periodic import Periodic
from beatpass_common.tracks import STATUSES, STEPS, UNSETTLED

from .handlers import Deps
from .models import Step, Track
from .records import Records, now

log = logging.getLogger(__name__)

STARTING_EVENT = {"validation": "submitted_event", "waveform": "validated_event", "fingerprint": "validated_event"}
QUEUE = {"validation": "validation.tracks", "waveform": "waveform.tracks", "fingerprint": "fingerprint.tracks"}


@lru_cache
def reaper_metrics():
    return (
        Gauge("beatpass_catalog_tracks", "Tracks by status", ["status"]),
        Gauge("beatpass_catalog_overdue_steps", "Steps running past their deadline", ["step"]),
        Counter("beatpass_catalog_redrives_total", "Overdue steps re-driven", ["step"]),
        Counter("beatpass_catalog_steps_timed_out_total", "Steps failed after their last re-drive", ["step"]),
        Counter("beatpass_catalog_reaper_passes_total", "Reaper passes completed"),
    )


def redrive(records: Records, track: Track, step: Step) -> bool:
    """Send the step's starting event again: pending, with a fresh queue deadline. False when the
    track has no starting event for it yet (its earlier step has not finished)."""
    body = getattr(track, STARTING_EVENT[step.name])
    if not body:
        return False
    step.state, step.error, step.reason, step.detail, step.parked = "pending", None, None, None, False
    step.attempts += 1
    step.deadline_at = now() + timedelta(seconds=records.settings.step_queue_deadline_s)
    records.outbox.add(records.s, parse_event(body))
    return True


def _serving_steps(deps: Deps) -> list[str]:
    """Steps whose queue has at least one consumer now (asked once per queue per pass)."""
    return [name for name, queue in QUEUE.items() if (deps.consumers(queue) or 0) > 0]


def reap(deps: Deps) -> int:
    """One pass; returns how many steps were re-driven or failed."""
    tracks_gauge, overdue_gauge, redrives, timed_out, passes = reaper_metrics()
    acted = 0
    t = now()
    with deps.factory() as session, session.begin():
        overdue_running = and_(Step.state == "running", Step.deadline_at < t)
        late_pending = session.scalar(
            select(func.count())
            .select_from(Step)
            .join(Track)
            .where(Step.state == "pending", Step.deadline_at < t, Track.status.in_(UNSETTLED))
        )
        serving = _serving_steps(deps) if late_pending else []
        overdue_queued = and_(Step.state == "pending", Step.deadline_at < t, Step.name.in_(serving))
        overdue = session.scalars(
            select(Step)
            .join(Track)
            .where(or_(overdue_running, overdue_queued), Track.status.in_(UNSETTLED))
            .order_by(Step.deadline_at)
            .limit(200)
            .with_for_update(skip_locked=True, of=Step)
        ).all()
        records = Records(session, deps.outbox, deps.settings)
        for step in overdue:
            track = step.track
            reason = "timeout" if step.state == "running" else "not_started"
            if step.attempts < deps.settings.step_attempts and redrive(records, track, step):
                redrives.labels(step.name).inc()
                log.warning("re-drove %s step of track %s (%s; attempt %d)", step.name, track.id, reason, step.attempts)
            else:
                records.fail(track, step.name, reason, step.attempts, None)
                timed_out.labels(step.name).inc()
                log.error(
                    "%s step of track %s failed (%s) after %d attempts", step.name, track.id, reason, step.attempts
                )
            records.settle(track)
            acted += 1
        records.refresh_collections()
    with deps.factory() as session:
        counts = dict(session.execute(select(Track.status, func.count()).group_by(Track.status)).all())
        for status in STATUSES:
            tracks_gauge.labels(status).set(counts.get(status, 0))
        late = dict(
            session.execute(
                select(Step.name, func.count())
                .where(Step.state == "running", Step.deadline_at < now())
                .group_by(Step.name)
            ).all()
        )
        for name in STEPS:
            overdue_gauge.labels(name).set(late.get(name, 0))
    passes.inc()
    if acted:
        deps.outbox.notify()
        deps.on_change()
    return acted


def reaper(deps: Deps) -> Periodic:
    """The reaper's loop: a ``reap`` pass every ``reaper_interval_s``."""
    return Periodic("reaper", lambda: reap(deps), deps.settings.reaper_interval_s)
