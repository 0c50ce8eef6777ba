"""A gateway for unit tests (``gw``): SQLite and local files, an outbox nobody relays, and a dict
for the catalog. The use cases (saves.py, editing.py) and the Flask app run on it as they do in
production, without a broker, S3 or a catalog process."""

from __future__ import annotations

import pytest

from beatpass_common.db import open_database
from beatpass_common.outbox import Outbox
from beatpass_common.storage import open_store
from beatpass_upload.models import OutboxEvent
from beatpass_upload.saving import Saver
from beatpass_upload.service import MIGRATIONS, Gateway
from beatpass_upload.uploads import Uploads


class Catalog:
    """The catalog's answers by (producer, path): what it has recorded, else 404."""

    def __init__(self):
        self.views: dict[tuple[str, str], dict] = {}

    def get(self, producer_id: str, path: str, params: dict | None = None):
        view = self.views.get((producer_id, path))
        return (200, view) if view is not None else (404, None)

    def record(self, producer_id: str, track_id: str, **view) -> None:
        self.views[(producer_id, f"tracks/{track_id}")] = {"id": track_id, **view}


@pytest.fixture
def gw(tmp_path, settings):
    factory = open_database(f"sqlite:///{tmp_path}/upload.db", MIGRATIONS)
    store = open_store(f"file://{tmp_path}/objects")
    store.ensure_bucket(settings.uploads_bucket)
    outbox = Outbox(OutboxEvent, factory, lambda event: None, settings.outbox_poll_s)  # never relayed here
    yield Gateway(
        settings=settings,
        factory=factory,
        store=store,
        outbox=outbox,
        uploads=Uploads(factory, store, settings),
        saver=Saver(factory, store, outbox, settings),
        catalog=Catalog(),
    )
    factory.kw["bind"].dispose()
