"""Duplicate disputes: a producer contests a match; an operator accepts or upholds it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from beatpass_common import disputes as rule

from .models import Track
from .records import Records, now


class DisputeError(Exception):
    def __init__(self, status: int, code: str, field: str | None, message: str):
        super().__init__(message)
        self.status, self.code, self.field, self.message = status, code, field, message


def open_dispute(session: Session, deps, track: Track, reason) -> None:
    if not rule.reason_ok(reason):
        raise DisputeError(422, "DISPUTE_REASON_REQUIRED", "reason", rule.REASON_REQUIRED)
    if track.status != "rejected" or not any(e.get("code") == "DUPLICATE_AUDIO" for e in track.errors or []):
        raise DisputeError(409, "NOT_DISPUTABLE", None, "Only a track rejected as a duplicate can be disputed.")
    track.status = "in_review"
    track.dispute = {"state": "open", "reason": reason.strip(), "opened_at": now().isoformat()}
    Records(session, deps.outbox, deps.settings).settle(track)


def open_disputes(session: Session) -> list[Track]:
    return list(session.scalars(select(Track).where(Track.status == "in_review").order_by(Track.updated_at)))


def resolve_dispute(session: Session, deps, track_id: str, *, accept: bool, operator: str, note: str) -> Track:
    track = session.scalars(select(Track).where(Track.id == track_id).with_for_update()).first()
    if track is None or track.status != "in_review":
        raise DisputeError(409, "NOT_IN_REVIEW", None, f"Track {track_id} has no open dispute or review.")
    records = Records(session, deps.outbox, deps.settings)
    track.dispute = {
        **(track.dispute or {}),
        "state": "accepted" if accept else "upheld",
        "resolved_by": operator,
        "resolution": note,
        "resolved_at": now().isoformat(),
    }
    if accept:
        track.status = "processing"
        track.errors = []
        track.duplicate = {**(track.duplicate or {}), "decision": "accepted"}
    else:
        from .handlers import duplicate_problem

        matched = session.get(Track, (track.duplicate or {}).get("track_id") or "")
        own = matched is not None and matched.producer_id == track.producer_id
        title = matched.title if matched is not None and own else None
        records.reject(track, [duplicate_problem(title)], publish=True, cause=None)
    records.settle(track)
    records.refresh_collections()
    return track
