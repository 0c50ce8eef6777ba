"""Wiring: database (migrated at build), object store, bus subscription and the outbox relay."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from beatpass_common.bus import Bus
from beatpass_common.config import Settings
from beatpass_common.db import open_database, reachable
from beatpass_common.isolation import Runner
from beatpass_common.outbox import Outbox
from beatpass_common.runner import Runtime

from .handlers import handle_track_ready, handle_track_removed, handle_track_validated
from .metrics import FingerprintMetrics
from .models import OutboxEvent
from .resample import load_libraries

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> Runtime:
    load_libraries()  # a missing libswresample fails the start, not every message
    factory = open_database(
        settings.database_url("fingerprint"),
        MIGRATIONS,
        migrate_first=settings.migrate_on_start,
        **settings.database_pool(),
    )
    # librosa's constant-Q transform (numba, ~1.7 s to import) is loaded by the child only.
    runner = Runner.from_settings(
        settings, preload=("beatpass_fingerprint.chroma", "librosa.core.constantq", "scipy.ndimage", "soxr")
    )
    bus = Bus(settings, "fingerprint", step="fingerprint")
    outbox = Outbox(OutboxEvent, factory, bus.publish, settings.outbox_poll_s)
    bus.subscribe(
        "fingerprint.tracks",
        {
            "track.validated": partial(
                handle_track_validated,
                runner=runner,
                session_factory=factory,
                outbox=outbox,
                settings=settings,
                metrics=FingerprintMetrics(),
            ),
            "track.removed": partial(handle_track_removed, session_factory=factory, settings=settings),
            "track.ready": partial(handle_track_ready, session_factory=factory, settings=settings),
        },
    )
    return Runtime(
        "fingerprint",
        settings,
        bus=bus,
        loops=[outbox],
        checks={"database": reachable(factory)},
        on_stop=[runner.close],
        interrupts=[runner.terminate],
        deps=runner,
    )
