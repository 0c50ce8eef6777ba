"""Wires the catalog: database, outbox, handlers on the bus, reaper, and the read API."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from beatpass_common.bus import Bus, inspect
from beatpass_common.config import Settings
from beatpass_common.db import open_database, reachable
from beatpass_common.outbox import Outbox
from beatpass_common.runner import Runtime

from .api import create_api
from .handlers import HANDLERS, Deps, handle
from .models import OutboxEvent
from .reaper import reaper
from .streams import ChangeNotifier

MIGRATIONS = Path(__file__).with_name("migrations")


def build_deps(settings: Settings, publish) -> Deps:
    factory = open_database(
        settings.database_url("catalog"),
        MIGRATIONS,
        migrate_first=settings.migrate_on_start,
        **settings.database_pool(),
    )
    return Deps(
        factory=factory,
        outbox=Outbox(OutboxEvent, factory, publish, settings.outbox_poll_s),
        settings=settings,
        consumers=partial(
            inspect.consumers, settings.bus_url, timeout_s=settings.bus_inspect_timeout_s, ssl=settings.bus_ssl()
        ),
    )


def build(settings: Settings) -> Runtime:
    """The catalog process; MissingSecret outside dev mode without ``internal_api_secret``."""
    settings.require_secrets("catalog", ["internal_api_secret"])
    bus = Bus(settings, "catalog")
    deps = build_deps(settings, bus.publish)
    notifier = ChangeNotifier()
    deps.on_change = notifier.notify
    bus.subscribe("catalog.records", {t: partial(handle, deps=deps) for t in HANDLERS})
    return Runtime(
        "catalog",
        settings,
        bus=bus,
        app=create_api(deps, notifier),
        loops=[deps.outbox, reaper(deps)],
        checks={"database": reachable(deps.factory)},
    )
