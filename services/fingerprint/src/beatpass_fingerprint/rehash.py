"""Bring rows fingerprinted before the scheme-2 exact hash onto it (``python -m
beatpass_fingerprint rehash``), so the service can stop computing the old hash beside the new one.

Each scheme-1 row's audio is read again from its ``source`` and only hashed (its fingerprint and
index rows stay). A row whose audio is gone or unreadable gets scheme 0: no exact hash, so it
matches acoustically only (a copy is still found, as ``kind: acoustic``). Safe to run while the
service runs, and again after an interruption: a row is updated only while it still holds the old
hash of the same source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from beatpass_common.db import affected, transaction
from beatpass_common.errors import Unreadable
from beatpass_common.storage.base import ObjectNotFound, ObjectStore

from .exact import LEGACY_SCHEME, NO_HASH, SCHEME, exact_hash
from .models import TrackPrint

log = logging.getLogger(__name__)


@dataclass
class Rehashed:
    upgraded: int = 0
    without_audio: int = 0  # set to scheme 0


def rehash(factory: sessionmaker[Session], store: ObjectStore, batch: int = 100) -> Rehashed:
    counts, after = Rehashed(), 0
    while True:
        with transaction(factory) as session:
            rows = session.execute(
                select(TrackPrint.id, TrackPrint.source)
                .where(TrackPrint.hash_scheme == LEGACY_SCHEME, TrackPrint.id > after)
                .order_by(TrackPrint.id)
                .limit(batch)
            ).all()
        if not rows:
            return counts
        for print_id, source in rows:
            after = print_id
            bucket, _, key = source.partition("/")
            try:
                with store.open(bucket, key) as stream:
                    values = {"pcm_hash": exact_hash(stream), "hash_scheme": SCHEME}
            except (ObjectNotFound, Unreadable) as exc:
                log.warning(
                    "print %d: audio %s cannot be hashed again (%s): acoustic matching only", print_id, source, exc
                )
                values = {"hash_scheme": NO_HASH}
            with transaction(factory) as session:
                changed = affected(
                    session,
                    update(TrackPrint)
                    .where(
                        TrackPrint.id == print_id, TrackPrint.hash_scheme == LEGACY_SCHEME, TrackPrint.source == source
                    )
                    .values(**values),
                )
            if changed:
                counts.upgraded += values["hash_scheme"] == SCHEME
                counts.without_audio += values["hash_scheme"] == NO_HASH
