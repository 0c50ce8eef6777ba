"""``Idempotency-Key`` for saves: the same key and body replay the first response; the same key
with another body is refused (422); a repeat while the first is still running gets 409.
Keys are scoped per producer and kept ``idempotency_ttl_s`` (48 h by default).

A request claims its key with a lease (``leases``) renewed while it works. A repeat that finds the
key in flight waits up to ``lease_s`` for it to be answered (then replays it), given up (then goes
ahead) or left by a holder that died (then takes it over: nothing of a save is committed before
its response is stored in the same transaction, so the work happens once). Only a holder that
lives through the whole wait gets 409.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from beatpass_common.db import affected

from .leases import Heartbeat, wait_for
from .models import IdempotencyKey


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


@dataclass(frozen=True)
class Claim:
    """This request holds ``key`` of ``producer_id`` as ``holder`` (a fresh id per request)."""

    producer_id: str
    key: str
    holder: str


class KeyConflict(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _in_flight() -> KeyConflict:
    return KeyConflict(
        409, "IDEMPOTENCY_IN_FLIGHT", "A request with this Idempotency-Key is still being processed; retry in a moment."
    )


def request_hash(route: str, body: dict) -> str:
    return hashlib.sha256(f"{route}\n{json.dumps(body, sort_keys=True)}".encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _this(producer_id: str, key: str):
    return IdempotencyKey.producer_id == producer_id, IdempotencyKey.key == key


def begin(
    factory: sessionmaker[Session], producer_id: str, key: str, route: str, digest: str, lease_s: float
) -> Replay | Claim:
    """Claim ``key``: a ``Claim`` when this request goes ahead, the stored response to replay, or
    KeyConflict (400 invalid key, 422 another request's key, 409 in flight with a live holder)."""
    if not key or len(key) > 255:
        raise KeyConflict(400, "IDEMPOTENCY_KEY_INVALID", "Idempotency-Key must be 1 to 255 characters.")
    claim = Claim(producer_id, key, uuid.uuid4().hex)

    def attempt() -> Replay | Claim | None:
        try:
            with factory() as s, s.begin():
                s.add(
                    IdempotencyKey(
                        producer_id=producer_id,
                        key=key,
                        route=route,
                        request_hash=digest,
                        state="in_flight",
                        holder=claim.holder,
                        lease_until=_now() + timedelta(seconds=lease_s),
                        created_at=_now(),
                    )
                )
            return claim
        except IntegrityError:
            pass
        with factory() as s:
            row = s.get(IdempotencyKey, (producer_id, key))
        if row is None:  # given up between our insert and read: claim it at the next poll
            return None
        if row.route != route or row.request_hash != digest:
            raise KeyConflict(
                422, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used for a different request."
            )
        if row.state == "done":
            assert row.status_code is not None and row.response is not None  # finish() sets them with "done"
            return Replay(row.status_code, json.loads(row.response))
        # In flight: take it over only if its lease ran out (its holder stopped renewing: it died).
        with factory() as s, s.begin():
            taken = affected(
                s,
                update(IdempotencyKey)
                .where(
                    *_this(producer_id, key),
                    IdempotencyKey.state == "in_flight",
                    or_(IdempotencyKey.lease_until.is_(None), IdempotencyKey.lease_until < _now()),
                )
                .values(holder=claim.holder, lease_until=_now() + timedelta(seconds=lease_s)),
            )
        return claim if taken else None

    # cast: solving wait_for's T, mypy joins Replay | Claim to object
    result = cast(Replay | Claim | None, wait_for(attempt, lease_s))
    if result is None:
        raise _in_flight()
    return result


def held(factory: sessionmaker[Session], claim: Claim | None, lease_s: float):
    """A ``with`` block during which ``claim``'s lease is renewed (nothing without a claim)."""
    if claim is None:
        return nullcontext()

    def renew() -> bool:
        with factory() as s, s.begin():
            return bool(
                affected(
                    s,
                    update(IdempotencyKey)
                    .where(
                        *_this(claim.producer_id, claim.key),
                        IdempotencyKey.state == "in_flight",
                        IdempotencyKey.holder == claim.holder,
                    )
                    .values(lease_until=_now() + timedelta(seconds=lease_s)),
                )
            )

    return Heartbeat(renew, lease_s, f"idempotency-{claim.holder[:8]}")


def finish(session: Session, claim: Claim, status: int, body: dict) -> None:
    """Store the response in the caller's transaction (with the work it describes). Raises 409
    KeyConflict when the claim was taken over (this holder stalled past its lease): the caller's
    transaction must then roll back, the successor does the work."""
    stored = affected(
        session,
        update(IdempotencyKey)
        .where(
            *_this(claim.producer_id, claim.key),
            IdempotencyKey.state == "in_flight",
            IdempotencyKey.holder == claim.holder,
        )
        .values(state="done", status_code=status, response=json.dumps(body), holder=None, lease_until=None),
    )
    if not stored:
        raise _in_flight()


def abandon(factory: sessionmaker[Session], claim: Claim) -> None:
    """The request failed on our side: free the key so a retry can go ahead at once."""
    with factory() as s, s.begin():
        s.execute(
            delete(IdempotencyKey).where(
                *_this(claim.producer_id, claim.key),
                IdempotencyKey.state == "in_flight",
                IdempotencyKey.holder == claim.holder,
            )
        )


def purge(factory: sessionmaker[Session], ttl_s: int) -> int:
    cutoff = _now() - timedelta(seconds=ttl_s)
    with factory() as s, s.begin():
        return affected(s, delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))


__all__ = ["Claim", "KeyConflict", "Replay", "abandon", "begin", "finish", "held", "purge", "request_hash"]
