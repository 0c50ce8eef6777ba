"""The handler's dependencies over a given database URL and object store, plus event builders.

The store must be the one ``settings`` names: the handler's work opens it from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select

from beatpass_common.config import Settings
from beatpass_common.db import make_engine, migrate, session_factory, transaction
from beatpass_common.events import (
    AudioFacts,
    CoverFacts,
    Event,
    ObjectRef,
    TrackReady,
    TrackRemoved,
    TrackValidated,
    new_event,
)
from beatpass_common.isolation import Runner
from beatpass_common.outbox import Outbox
from beatpass_fingerprint import index
from beatpass_fingerprint.handlers import handle_track_ready, handle_track_removed, handle_track_validated
from beatpass_fingerprint.metrics import FingerprintMetrics
from beatpass_fingerprint.models import OutboxEvent, PostingList, ShiftPostingList, ShiftPrint, TrackPrint
from beatpass_fingerprint.service import MIGRATIONS


@dataclass
class Env:
    settings: Settings
    store: object
    url: str
    published: list[Event] = field(default_factory=list)
    runner: Runner = field(default_factory=lambda: Runner(isolated=False))  # the handler in this process

    def __post_init__(self):
        migrate(self.url, MIGRATIONS)
        self.engine = make_engine(self.url)
        self.factory = session_factory(self.engine)
        self.outbox = Outbox(OutboxEvent, self.factory, self.published.append)
        self.store.ensure_bucket(self.settings.uploads_bucket)
        self.validated = partial(
            handle_track_validated,
            runner=self.runner,
            session_factory=self.factory,
            outbox=self.outbox,
            settings=self.settings,
            metrics=FingerprintMetrics(),
        )
        self.removed = partial(handle_track_removed, session_factory=self.factory, settings=self.settings)
        self.ready = partial(handle_track_ready, session_factory=self.factory, settings=self.settings)

    def upload(self, key: str, data: bytes) -> ObjectRef:
        self.store.put_bytes(self.settings.uploads_bucket, key, data, "audio/wav")
        return ObjectRef(bucket=self.settings.uploads_bucket, key=key, size=len(data))

    def track_validated(
        self,
        track_id: str,
        source: ObjectRef,
        *,
        producer: str = "p1",
        replaces: str | None = None,
        submission: int = 0,
    ) -> Event:
        data = TrackValidated(
            source=source,
            replaces_track_id=replaces,
            audio=AudioFacts(format="wav", sample_rate=44100, bit_depth=16, channels=2, duration_s=60),
            cover=CoverFacts(format="jpeg", width=1000, height=1000),
        )
        return new_event("track.validated", data, producer_id=producer, track_id=track_id, attempt=submission)

    def track_removed(self, track_id: str, submission: int = 0) -> Event:
        return new_event(
            "track.removed", TrackRemoved(reason="rejected"), producer_id="p1", track_id=track_id, attempt=submission
        )

    def track_ready(self, track_id: str) -> Event:
        return new_event("track.ready", TrackReady(title="t"), producer_id="p1", track_id=track_id)

    def relay(self) -> list[Event]:
        self.published.clear()
        self.outbox.relay_once()
        return list(self.published)

    def index_rows(self, track_id: str) -> int:
        with transaction(self.factory) as session:
            print_id = session.scalar(select(TrackPrint.id).where(TrackPrint.track_id == track_id))
            return sum(
                int((index.unpack(blob)[:, 0] == print_id).sum())
                for blob in session.scalars(select(PostingList.postings))
            )

    def shift_rows(self, track_id: str) -> tuple[bool, int]:
        """Whether the track has a stored shift print, and how many shift postings name it."""
        with transaction(self.factory) as session:
            print_id = session.scalar(select(TrackPrint.id).where(TrackPrint.track_id == track_id))
            stored = print_id is not None and session.get(ShiftPrint, print_id) is not None
            return stored, sum(
                int((index.unpack_ids(blob) == print_id).sum())
                for blob in session.scalars(select(ShiftPostingList.postings))
            )

    def printed(self, track_id: str) -> TrackPrint | None:
        with transaction(self.factory) as session:
            return session.scalar(select(TrackPrint).where(TrackPrint.track_id == track_id))

    def close(self):
        self.engine.dispose()
