"""``Idempotency-Key`` for saves: the same key and body replay the first response; the same key
with another body is refused (422); a repeat while the first is still running gets 409.
Keys are scoped per producer and kept ``idempotency_ttl_s`` (48 h by default)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .models import IdempotencyKey


IN_FLIGHT_TIMEOUT = timedelta(minutes=10)  # far longer than any save takes


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


class KeyConflict(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def request_hash(route: str, body: dict) -> str:
    return hashlib.sha256(f"{route}\n{json.dumps(body, sort_keys=True)}".encode()).hexdigest()


def begin(factory: sessionmaker[Session], producer_id: str, key: str, route: str, digest: str) -> Replay | None:
    """Claim ``key``; returns the stored response to replay, or None when this request goes ahead."""
    if not key or len(key) > 255:
        raise KeyConflict(400, "IDEMPOTENCY_KEY_INVALID", "Idempotency-Key must be 1 to 255 characters.")
    try:
        with factory() as s, s.begin():
            s.add(IdempotencyKey(producer_id=producer_id, key=key, route=route, request_hash=digest,
                                 state="in_flight", created_at=datetime.now(timezone.utc)))
        return None
    except IntegrityError:
        pass
    with factory() as s:
        row = s.get(IdempotencyKey, (producer_id, key))
    if row is None:  # released between our insert and read: try once more
        return begin(factory, producer_id, key, route, digest)
    if row.state == "in_flight" and _abandoned(row):
        # The process that claimed it died mid-request (nothing was committed with it): take over.
        abandon(factory, producer_id, key)
        return begin(factory, producer_id, key, route, digest)
    if row.route != route or row.request_hash != digest:
        raise KeyConflict(422, "IDEMPOTENCY_KEY_REUSED",
                          "This Idempotency-Key was already used for a different request.")
    if row.state == "in_flight":
        raise KeyConflict(409, "IDEMPOTENCY_IN_FLIGHT",
                          "A request with this Idempotency-Key is still being processed; retry in a moment.")
    return Replay(row.status_code, json.loads(row.response))


def _abandoned(row: IdempotencyKey) -> bool:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - created > IN_FLIGHT_TIMEOUT


def finish(session: Session, producer_id: str, key: str, status: int, body: dict) -> None:
    """Store the response in the caller's transaction (with the work it describes)."""
    row = session.get(IdempotencyKey, (producer_id, key))
    row.state, row.status_code, row.response = "done", status, json.dumps(body)


def abandon(factory: sessionmaker[Session], producer_id: str, key: str) -> None:
    """The request failed on our side: free the key so a retry can go ahead."""
    with factory() as s, s.begin():
        s.execute(delete(IdempotencyKey).where(IdempotencyKey.producer_id == producer_id,
                                               IdempotencyKey.key == key, IdempotencyKey.state == "in_flight"))


def purge(factory: sessionmaker[Session], ttl_s: int) -> int:
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=ttl_s)
    with factory() as s, s.begin():
        return s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount


__all__ = ["KeyConflict", "Replay", "abandon", "begin", "finish", "purge", "request_hash"]
