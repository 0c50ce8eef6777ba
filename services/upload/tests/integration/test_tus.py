"""tus 1.0.0 against the gateway with real S3 and PostgreSQL, driven by tuspy and raw requests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
import time

import pytest
import requests
from tusclient import client as tus

from beatpass_common.storage import open_store

pytestmark = pytest.mark.integration


@pytest.fixture(name="stack")
def _stack(module_stack):
    return module_stack  # every test here only reads or adds records of its own


TUS = {"Tus-Resumable": "1.0.0"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _object_sha(stack, upload_id: str) -> str:
    store = open_store(stack.settings.storage_url)
    upload = stack.gateway.uploads.get("producer-a", upload_id)
    digest = hashlib.sha256()
    with store.open(upload.bucket, upload.key) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_options_advertises_capabilities(stack):
    r = requests.options(f"{stack.url}/api/v1/uploads")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
        "concatenation",
    }
    assert r.headers["Tus-Max-Size"] == str(stack.settings.max_upload_bytes)
    assert r.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_tuspy_upload_is_byte_identical_in_storage(stack):
    data = os.urandom(13 * 1024 * 1024 + 123)  # several 5 MiB parts and a short last part
    upload_id = stack.tus_upload(data, chunk_size=3 * 1024 * 1024)
    assert _object_sha(stack, upload_id) == _sha(data)
    head = requests.head(f"{stack.url}/api/v1/uploads/{upload_id}", headers={**TUS, **stack.headers()})
    assert head.headers["Upload-Offset"] == str(len(data)) and "Upload-Expires" not in head.headers


def test_interrupted_upload_resumes_from_server_offset_across_a_gateway_restart(real_settings, stack_factory):
    data = os.urandom(12 * 1024 * 1024 + 7)
    first = stack_factory(real_settings)
    client = tus.TusClient(f"{first.url}/api/v1/uploads", headers=first.headers())
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=4 * 1024 * 1024)
    uploader.upload(stop_at=8 * 1024 * 1024)  # the connection "drops" after two chunks
    url_path = uploader.url.split("/api/", 1)[1]
    for runtime in first.runtimes:
        runtime.stop()

    first.runtimes.clear()

    second = stack_factory(real_settings)  # a new gateway process state, same database and storage
    client = tus.TusClient(f"{second.url}/api/v1/uploads", headers=second.headers())
    resumed = client.uploader(
        file_stream=io.BytesIO(data), chunk_size=4 * 1024 * 1024, url=f"{second.url}/api/{url_path}"
    )
    assert resumed.get_offset() == 8 * 1024 * 1024
    resumed.upload()
    assert _object_sha(second, url_path.rsplit("/", 1)[1]) == _sha(data)


def test_checksum_mismatch_answers_460_and_writes_nothing(stack):
    h = {**TUS, **stack.headers()}
    r = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "10"})
    location = r.headers["Location"]
    bad = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    r = requests.patch(
        location,
        data=b"0123456789",
        headers={
            **h,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": f"sha1 {bad}",
        },
    )
    assert r.status_code == 460
    assert requests.head(location, headers=h).headers["Upload-Offset"] == "0"
    good = base64.b64encode(hashlib.sha256(b"0123456789").digest()).decode()
    r = requests.patch(
        location,
        data=b"0123456789",
        headers={
            **h,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": f"sha256 {good}",
        },
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "10"


def test_tuspy_checksum_upload(stack):
    data = os.urandom(300_000)
    c = tus.TusClient(f"{stack.url}/api/v1/uploads", headers=stack.headers())
    uploader = c.uploader(file_stream=io.BytesIO(data), chunk_size=100_000, upload_checksum=True)
    uploader.upload()
    assert _object_sha(stack, uploader.url.rsplit("/", 1)[1]) == _sha(data)


def test_creation_with_upload(stack):
    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    r = requests.post(
        f"{stack.url}/api/v1/uploads",
        data=b"abcdef",
        headers={**h, "Upload-Length": "10", "Upload-Metadata": "filename YS53YXY="},
    )
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "6" and "Upload-Expires" in r.headers
    head = requests.head(r.headers["Location"], headers=h)
    assert head.headers["Upload-Metadata"] == "filename YS53YXY="


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 412),  # no Tus-Resumable
        ({**TUS, "Upload-Length": str(3 * 1024**3)}, 413),
        ({**TUS}, 400),  # no Upload-Length
    ],
)
def test_creation_errors(stack, headers, status):
    r = requests.post(f"{stack.url}/api/v1/uploads", headers={**stack.headers(), **headers})
    assert r.status_code == status


def test_patch_errors(stack):
    h = {**TUS, **stack.headers()}
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "4"}).headers["Location"]
    octet = {"Content-Type": "application/offset+octet-stream"}
    assert (
        requests.patch(
            location, data=b"ab", headers={**h, "Upload-Offset": "0", "Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    r = requests.patch(location, data=b"ab", headers={**h, **octet, "Upload-Offset": "1"})
    assert r.status_code == 409 and r.headers["Upload-Offset"] == "0"
    assert requests.patch(location, data=b"abcdef", headers={**h, **octet, "Upload-Offset": "0"}).status_code == 413
    assert requests.head(location, headers=h).headers["Upload-Offset"] == "0"


def test_a_patch_with_bytes_on_a_complete_upload_says_it_is_complete(stack):
    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    location = requests.post(f"{stack.url}/api/v1/uploads", data=b"abcd", headers={**h, "Upload-Length": "4"}).headers[
        "Location"
    ]
    r = requests.patch(location, data=b"ef", headers={**h, "Upload-Offset": "4"})
    assert r.status_code == 409 and r.headers["Upload-Offset"] == "4"
    assert r.json()["errors"] == [
        {"field": None, "code": "UPLOAD_COMPLETE", "message": "This upload is already complete; it takes no more data."}
    ]
    r = requests.patch(location, data=b"ef", headers={**h, "Upload-Offset": "2"})  # a stale offset stays a mismatch
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "OFFSET_MISMATCH"
    assert r.json()["errors"][0]["message"] == "Upload-Offset 2 does not match the server's offset 4."
    r = requests.patch(location, data=b"", headers={**h, "Upload-Offset": "4"})  # as tusd: 204 with the offset
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "4"


def test_racing_patch_is_refused_with_423_while_the_first_lives(stack):
    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "2000000"}).headers[
        "Location"
    ]
    started, raced = threading.Event(), threading.Event()

    def slow_body():
        yield b"x" * 1000
        started.set()
        raced.wait(30)  # a slow client: longer than a lease
        yield b"y" * 1000

    results = {}
    t = threading.Thread(
        target=lambda: results.setdefault(
            "slow", requests.patch(location, data=slow_body(), headers={**h, "Upload-Offset": "0"})
        )
    )
    t.start()
    assert started.wait(5)
    _wait_leased(stack, location)
    racing = requests.patch(location, data=b"z" * 10, headers={**h, "Upload-Offset": "0"})
    raced.set()
    t.join()
    assert racing.status_code == 423 and racing.json()["errors"][0]["code"] == "UPLOAD_LOCKED"
    assert results["slow"].status_code == 204 and results["slow"].headers["Upload-Offset"] == "2000"


def _wait_leased(stack, location: str, limit_s: float = 30.0) -> None:
    """Until a PATCH holds the upload's lease."""
    from beatpass_upload.models import Upload

    deadline = time.monotonic() + limit_s
    while True:
        with stack.gateway.factory() as s:
            if s.get(Upload, location.rsplit("/", 1)[1]).lock_token:
                return
        assert time.monotonic() < deadline, "no PATCH took the lease"
        time.sleep(0.05)


def test_a_patch_whose_gateway_is_killed_mid_body_lets_the_next_patch_continue(stack, gateway_process):
    """A gateway process takes the lease, is SIGKILLed mid-body; until then a racing PATCH gets
    423, after it another PATCH goes ahead within seconds."""
    dying = gateway_process(stack.settings)
    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "3000"}).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    released = threading.Event()

    def stalled_body():
        yield b"k" * 1000
        released.wait(30)
        yield b"K" * 2000

    def doomed_patch():
        with contextlib.suppress(requests.ConnectionError):  # killed mid-body
            requests.patch(
                f"{dying.url}/api/v1/uploads/{upload_id}",
                data=stalled_body(),
                headers={**h, "Upload-Offset": "0"},
                timeout=60,
            )

    t = threading.Thread(target=doomed_patch)
    t.start()
    _wait_leased(stack, location)
    assert requests.patch(location, data=b"z" * 10, headers={**h, "Upload-Offset": "0"}).status_code == 423
    dying.kill()
    released.set()
    t.join(10)

    started = time.monotonic()
    offset = requests.head(location, headers=h).headers["Upload-Offset"]
    rest = os.urandom(3000 - int(offset))
    r = requests.patch(location, data=rest, headers={**h, "Upload-Offset": offset})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "3000"
    assert time.monotonic() - started < 3 * stack.settings.lease_s
    assert int(offset) == 0  # the dead PATCH's bytes were all below one part: nothing of them was kept
    assert _object_sha(stack, upload_id) == _sha(rest)


def test_termination_frees_storage(stack):
    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "100"}).headers["Location"]
    requests.patch(location, data=b"a" * 40, headers={**h, "Upload-Offset": "0"})
    upload = stack.gateway.uploads.get("producer-a", location.rsplit("/", 1)[1])
    store = open_store(stack.settings.storage_url)
    assert upload.tail_size == 40 and store.exists(upload.bucket, upload.tail_key)
    assert requests.delete(location, headers=h).status_code == 204
    assert not store.exists(upload.bucket, upload.tail_key)
    assert requests.head(location, headers=h).status_code == 410
    assert requests.patch(location, data=b"a", headers={**h, "Upload-Offset": "40"}).status_code == 410


def test_expired_uploads_are_swept(real_settings, stack_factory):
    stack = stack_factory(real_settings)  # its own: the sweep sees every upload of the database
    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    stack.gateway.uploads.settings = stack.settings.model_copy(update={"upload_expiry_s": 0})
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "100"}).headers["Location"]
    time.sleep(0.05)
    assert stack.gateway.uploads.sweep_expired() >= 1
    assert requests.head(location, headers=h).status_code == 410


def test_a_writer_that_lost_its_lease_cannot_corrupt_the_upload(stack):
    """A PATCH stalls past its lease; a resumed PATCH takes over; the stale one is refused."""
    from sqlalchemy import update

    from beatpass_upload.models import Upload

    h = {**TUS, **stack.headers(), "Content-Type": "application/offset+octet-stream"}
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "2000"}).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    started, go_on = threading.Event(), threading.Event()

    def stalled_body():
        yield b"s" * 500
        started.set()
        go_on.wait(10)
        yield b"S" * 500

    results = {}
    t = threading.Thread(
        target=lambda: results.setdefault(
            "stale", requests.patch(location, data=stalled_body(), headers={**h, "Upload-Offset": "0"})
        )
    )
    t.start()
    assert started.wait(5)
    time.sleep(0.3)
    _wait_leased(stack, location)
    with stack.gateway.factory() as s, s.begin():  # its renewals stop and the lease runs out (a long stall)
        s.execute(
            update(Upload).where(Upload.id == upload_id).values(locked_until=Upload.created_at, lock_token="stalled")
        )
    fresh = os.urandom(2000)
    r = requests.patch(location, data=fresh, headers={**h, "Upload-Offset": "0"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "2000"
    go_on.set()
    t.join()
    assert results["stale"].status_code in (409, 423)
    assert _object_sha(stack, upload_id) == _sha(fresh)
