"""Upload minutes: reserved atomically at save, released when a track ends rejected or failed.

The reservation is one conditional UPDATE (``used + n <= limit``) on the producer's account row,
so concurrent saves serialise on that row and can never overdraw the limit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from beatpass_common.db import affected

from .models import QuotaAccount, Reservation


class QuotaExceeded(Exception):
    def __init__(self, needed_s: float, remaining_s: float):
        super().__init__("upload minutes exceeded")
        self.needed_s, self.remaining_s = needed_s, remaining_s


def clock(seconds: float) -> str:
    """4:05 for 245 s (rounded up to the second, as producers count)."""
    total = math.ceil(max(0.0, seconds) - 1e-9)
    return f"{total // 60}:{total % 60:02d}"


def exceeded_message(track_s: float, remaining_s: float) -> str:
    return (
        f"This track is {clock(track_s)} long, but you have {clock(remaining_s)} of upload minutes left. "
        "Remove or shorten a track, or ask BeatPass to raise your limit."
    )


def _ensure_account(session: Session, producer_id: str) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(QuotaAccount)
        .values(producer_id=producer_id, used_seconds=0.0)
        .on_conflict_do_nothing(index_elements=["producer_id"])
    )


def used_seconds(session: Session, producer_id: str) -> float:
    account = session.get(QuotaAccount, producer_id)
    return account.used_seconds if account else 0.0


def reserve(session: Session, producer_id: str, limit_minutes: int, holds: list[tuple[str, int, float]]) -> None:
    """Hold ``seconds`` for each (track_id, attempt, seconds), all or nothing, in the caller's transaction."""
    total = sum(seconds for _, _, seconds in holds)
    _ensure_account(session, producer_id)
    limit_s = limit_minutes * 60.0
    taken = affected(
        session,
        update(QuotaAccount)
        .where(QuotaAccount.producer_id == producer_id, QuotaAccount.used_seconds + total <= limit_s + 1e-6)
        .values(used_seconds=QuotaAccount.used_seconds + total),
    )
    if not taken:
        raise QuotaExceeded(total, max(0.0, limit_s - used_seconds(session, producer_id)))
    t = datetime.now(UTC)
    for track_id, attempt, seconds in holds:
        session.add(
            Reservation(
                track_id=track_id, attempt=attempt, producer_id=producer_id, seconds=seconds, state="held", created_at=t
            )
        )


def release(session: Session, track_id: str, attempt: int) -> bool:
    """Give back what the submission held; a second call changes nothing."""
    reservation = session.scalars(
        select(Reservation)
        .where(Reservation.track_id == track_id, Reservation.attempt == attempt, Reservation.state == "held")
        .with_for_update()
    ).first()
    if reservation is None:
        return False
    reservation.state = "released"
    session.execute(
        update(QuotaAccount)
        .where(QuotaAccount.producer_id == reservation.producer_id)
        .values(used_seconds=QuotaAccount.used_seconds - reservation.seconds)
    )
    return True
