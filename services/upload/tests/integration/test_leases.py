"""Leases on PostgreSQL and SQLite (``make run``): a live holder keeps its key or upload, a dead
one (it stopped renewing) lets go within ``lease_s``, and a late holder cannot commit."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from beatpass_common.db import open_database
from beatpass_common.storage import open_store
from beatpass_upload import idempotency
from beatpass_upload.models import Upload
from beatpass_upload.service import MIGRATIONS
from beatpass_upload.uploads import UploadError, Uploads

pytestmark = pytest.mark.integration
LEASE_S = 0.6
ROUTE = "POST /api/v1/tracks"


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request, tmp_path):
    url = f"sqlite:///{tmp_path}/upload.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    factory = open_database(url, MIGRATIONS)
    yield factory
    factory.kw["bind"].dispose()


def _begin(factory):
    return idempotency.begin(factory, "p", "k", ROUTE, idempotency.request_hash(ROUTE, {"a": 1}), LEASE_S)


def test_a_key_is_kept_by_a_live_holder_and_taken_over_from_a_dead_one_once(factory):
    first = _begin(factory)
    assert isinstance(first, idempotency.Claim)
    with idempotency.held(factory, first, LEASE_S):
        started = time.monotonic()
        with pytest.raises(idempotency.KeyConflict) as refused:
            _begin(factory)
        assert refused.value.code == "IDEMPOTENCY_IN_FLIGHT" and time.monotonic() - started >= LEASE_S
    second = _begin(factory)  # the first stopped renewing: taken over
    assert isinstance(second, idempotency.Claim) and second.holder != first.holder
    with pytest.raises(idempotency.KeyConflict), factory() as s, s.begin():
        idempotency.finish(s, first, 202, {"by": "first"})
    with factory() as s, s.begin():
        idempotency.finish(s, second, 202, {"by": "second"})
    assert _begin(factory) == idempotency.Replay(202, {"by": "second"})


def test_a_key_given_up_is_free_at_once(factory):
    claim = _begin(factory)
    idempotency.abandon(factory, claim)
    started = time.monotonic()
    assert isinstance(_begin(factory), idempotency.Claim) and time.monotonic() - started < LEASE_S


def test_an_upload_lease_is_kept_by_a_live_holder_and_taken_over_from_a_dead_one(factory, settings, tmp_path):
    uploads = Uploads(
        factory, open_store(f"file://{tmp_path}/objects"), settings.model_copy(update={"lease_s": LEASE_S})
    )
    upload = uploads.create("p", 10, {})
    with uploads.leased(upload):
        time.sleep(2 * LEASE_S)  # renewed meanwhile
        with pytest.raises(UploadError) as refused:
            uploads.append("p", upload.id, 0, None, None)
        assert refused.value.status == 423 and refused.value.code == "UPLOAD_LOCKED"
    with factory() as s, s.begin():  # a holder that died mid-PATCH: its lease runs to its end
        s.execute(
            update(Upload)
            .where(Upload.id == upload.id)
            .values(lock_token="dead", locked_until=datetime.now(UTC) + timedelta(seconds=LEASE_S))
        )
    started = time.monotonic()
    assert uploads.append("p", upload.id, 0, io.BytesIO(b"0123456789"), None).offset == 10
    assert time.monotonic() - started < 3 * LEASE_S


def test_a_head_reads_the_offset_once_the_patch_in_flight_has_let_go(factory, settings, tmp_path):
    """A resume's HEAD right after its client cut a PATCH: the offset it answers is the one that
    PATCH committed, not the one before it (which made the next PATCH a 409 OFFSET_MISMATCH)."""
    uploads = Uploads(
        factory, open_store(f"file://{tmp_path}/objects"), settings.model_copy(update={"lease_s": LEASE_S})
    )
    upload = uploads.create("p", 10, {})
    results = []
    with uploads.leased(upload) as token:
        reader = threading.Thread(target=lambda: results.append(uploads.settled("p", upload.id).offset))
        reader.start()
        time.sleep(LEASE_S / 2)
        assert uploads._extend(upload.id, token, offset=4)  # the cut PATCH commits what it received...
    reader.join(10)  # ...and lets go: only then does the HEAD answer
    assert results == [4]
    started = time.monotonic()  # a holder that never lets go delays a HEAD by lease_s at most
    with uploads.leased(upload):
        assert uploads.settled("p", upload.id).offset == 4
    assert LEASE_S <= time.monotonic() - started < 3 * LEASE_S
