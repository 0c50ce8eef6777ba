"""The gateway's bus side: give upload minutes back when a track ends rejected or failed, or is
replaced by a newer version."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from beatpass_common.db import transaction
from beatpass_common.events import Event

from . import quota


def handle_outcome(event: Event, *, factory: sessionmaker[Session]) -> None:
    if event.track_id is None or event.type not in {"track.rejected", "track.failed", "track.removed"}:
        return  # track.ready keeps its minutes
    with transaction(factory) as session:
        quota.release(session, event.track_id, event.attempt)
