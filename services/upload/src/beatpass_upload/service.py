"""Wires the gateway: database, storage, outbox, catalog client, the Flask app, bus and loops."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flask import Flask, request
from sqlalchemy.orm import Session, sessionmaker

from beatpass_common import request_ids
from beatpass_common.bus import Bus, topology
from beatpass_common.config import Settings
from beatpass_common.db import open_database, reachable
from beatpass_common.outbox import Outbox
from beatpass_common.periodic import Periodic
from beatpass_common.runner import Runtime
from beatpass_common.storage import ObjectStore, open_store

from . import idempotency, library, page, responses, tus
from .api import bp as api_bp
from .api import register_errors
from .catalog_client import CatalogClient
from .edit_api import bp as edit_bp
from .handlers import handle_outcome
from .models import OutboxEvent
from .openapi import bp as openapi_bp
from .saving import Saver
from .uploads import Uploads

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass
class Gateway:
    settings: Settings
    factory: sessionmaker[Session]
    store: ObjectStore
    outbox: Outbox
    uploads: Uploads
    saver: Saver
    catalog: CatalogClient

    def public_base(self) -> str:
        return self.settings.public_url.rstrip("/") if self.settings.public_url else request.host_url.rstrip("/")


def build_gateway(settings: Settings, publish, store: ObjectStore | None = None) -> Gateway:
    """MissingSecret outside dev mode without a JWT key, ``url_signing_secret`` or ``internal_api_secret``."""
    settings.require_secrets("upload", ["jwt_secret", "url_signing_secret", "internal_api_secret"])
    factory = open_database(
        settings.database_url("upload"), MIGRATIONS, migrate_first=settings.migrate_on_start, **settings.database_pool()
    )
    store = store or open_store(settings.resolved_storage_url(), settings.storage_region, settings.tls_ca_file)
    store.ensure_bucket(settings.uploads_bucket)
    outbox = Outbox(OutboxEvent, factory, publish, settings.outbox_poll_s)
    return Gateway(
        settings=settings,
        factory=factory,
        store=store,
        outbox=outbox,
        uploads=Uploads(factory, store, settings),
        saver=Saver(factory, store, outbox, settings),
        catalog=CatalogClient(settings.catalog_url, settings.secret("internal_api_secret")),
    )


def create_app(gw: Gateway) -> Flask:
    app = Flask("beatpass_upload", static_folder=None)
    # tus bodies are streamed and bounded by Upload-Length; JSON bodies by json_body_max_bytes (inputs.py)
    app.config["MAX_CONTENT_LENGTH"] = None
    app.extensions["beatpass"] = gw
    # library after tus: HEAD /api/v1/uploads/{id} stays tus's (a GET route also answers HEAD).
    for blueprint in (tus.bp, api_bp, library.bp, edit_bp, openapi_bp, page.bp):
        app.register_blueprint(blueprint)
    register_errors(app)
    request_ids.install(app)
    responses.install(app)
    return app


def housekeeping(gw: Gateway) -> Periodic:
    """Expires abandoned uploads and old idempotency keys every ``housekeeping_interval_s``."""

    def sweep() -> None:
        gw.uploads.sweep_expired()
        idempotency.purge(gw.factory, gw.settings.idempotency_ttl_s)

    return Periodic("housekeeping", sweep, gw.settings.housekeeping_interval_s)


def build(settings: Settings, *, store: ObjectStore | None = None) -> Runtime:
    """The gateway process: HTTP, the outcomes it records, the outbox relay and housekeeping."""
    bus = Bus(settings, "upload")
    gw = build_gateway(settings, bus.publish, store)
    outcomes = topology.spec("upload.outcomes")
    bus.subscribe(outcomes.name, {t: partial(handle_outcome, factory=gw.factory) for t in outcomes.event_types})
    return Runtime(
        "upload",
        settings,
        bus=bus,
        app=create_app(gw),
        loops=[gw.outbox, housekeeping(gw)],
        checks={"database": reachable(gw.factory)},
        deps=gw,
    )
