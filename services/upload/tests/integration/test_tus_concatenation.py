"""tus concatenation (parallel parts) against the gateway with real S3 and PostgreSQL: partial
uploads sent by tuspy at the same time, the final upload assembled inside S3, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from tusclient import client as tus

from beatpass_common.storage import open_store
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload.models import Upload

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture(name="stack")
def _stack(module_stack):
    return module_stack  # every test here only reads or adds records of its own


def _partial(stack, data: bytes, producer: str = "producer-a", chunk_size: int = 2 * MiB, **kw) -> str:
    """A partial upload of ``data`` sent by tuspy; its URL."""
    client = tus.TusClient(
        f"{stack.url}/api/v1/uploads", headers={**stack.headers(producer), "Upload-Concat": "partial"}
    )
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=chunk_size, **kw)
    uploader.upload()
    return uploader.url


def _parallel(stack, pieces: list[bytes], producer: str = "producer-a") -> list[str]:
    with ThreadPoolExecutor(len(pieces)) as pool:
        return list(pool.map(lambda piece: _partial(stack, piece, producer), pieces))


def _final(stack, urls: list[str], producer: str = "producer-a", **headers) -> requests.Response:
    return requests.post(
        f"{stack.url}/api/v1/uploads",
        headers={**TUS, **stack.headers(producer), "Upload-Concat": "final;" + " ".join(urls), **headers},
    )


def _object(stack, upload_id: str, producer: str = "producer-a") -> bytes:
    upload = stack.gateway.uploads.get(producer, upload_id)
    return open_store(stack.settings.storage_url).get_bytes(upload.bucket, upload.key)


def _error(r: requests.Response) -> tuple[int, str, str]:
    (error,) = r.json()["errors"]
    return r.status_code, error["code"], error["message"]


def test_options_advertises_concatenation(stack):
    r = requests.options(f"{stack.url}/api/v1/uploads")
    assert "concatenation" in r.headers["Tus-Extension"].split(",")


def test_parallel_partials_make_a_final_upload_assembled_in_storage(stack):
    data = os.urandom(11 * MiB + 12345)
    pieces = [data[: 5 * MiB], data[5 * MiB : 10 * MiB], data[10 * MiB :]]
    urls = _parallel(stack, pieces)
    meta = "filename " + base64.b64encode(b"beat.bin").decode()
    r = _final(stack, urls, **{"Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    location = r.headers["Location"]
    final_id = location.rsplit("/", 1)[1]
    assert hashlib.sha256(_object(stack, final_id)).digest() == hashlib.sha256(data).digest()

    h = {**TUS, **stack.headers()}
    head = requests.head(location, headers=h)
    assert head.status_code == 200
    assert head.headers["Upload-Length"] == head.headers["Upload-Offset"] == str(len(data))
    assert head.headers["Upload-Concat"] == "final;" + " ".join(
        f"{stack.url}/api/v1/uploads/{u.rsplit('/', 1)[1]}" for u in urls
    )
    assert head.headers["Upload-Metadata"] == meta and "Upload-Expires" not in head.headers
    partial_head = requests.head(urls[0], headers=h)
    assert partial_head.headers["Upload-Concat"] == "partial"
    assert partial_head.headers["Upload-Offset"] == str(5 * MiB)
    store = open_store(stack.settings.storage_url)
    for url in urls:  # their bytes live in the final now
        partial = stack.gateway.uploads.get("producer-a", url.rsplit("/", 1)[1])
        assert not store.exists(partial.bucket, partial.key)

    again = _final(stack, urls, **{"Upload-Metadata": meta})  # a retry whose answer was lost
    assert again.status_code == 201 and again.headers["Location"] == location
    r = _final(stack, urls[:2])
    assert _error(r) == (409, "PARTIAL_ALREADY_JOINED", "Partial upload 1 is already part of another final upload.")
    r = requests.patch(location, data=b"x", headers={**h, **OCTET, "Upload-Offset": str(len(data))})
    assert _error(r) == (
        403,
        "FINAL_UPLOAD_READ_ONLY",
        "A final upload is assembled from its partial uploads; it takes no data.",
    )
    state = requests.get(location, headers=stack.headers()).json()
    assert state["complete"] is True and state["length"] == len(data) and state["inspection"] is not None
    assert requests.get(urls[0], headers=stack.headers()).json()["inspection"] is None


def test_concurrent_identical_finals_make_one(stack):
    urls = _parallel(stack, [os.urandom(5 * MiB), os.urandom(1000)])
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _final(stack, urls), range(4)))
    created = [r for r in answers if r.status_code == 201]
    assert created and {r.headers["Location"] for r in created} == {created[0].headers["Location"]}
    # a retry that found the first one still assembling is told to come back (tus clients retry 423)
    assert all(r.status_code == 423 for r in answers if r.status_code != 201)


def test_an_aborted_partial_resumes_from_the_server_offset(stack):
    first, second = os.urandom(6 * MiB), os.urandom(3 * MiB + 5)
    client = tus.TusClient(f"{stack.url}/api/v1/uploads", headers={**stack.headers(), "Upload-Concat": "partial"})
    aborted = client.uploader(file_stream=io.BytesIO(first), chunk_size=2 * MiB)
    aborted.upload(stop_at=4 * MiB)  # the connection "drops" after two chunks
    assert _final(stack, [aborted.url, _partial(stack, second)]).json()["errors"][0]["code"] == "PARTIAL_INCOMPLETE"

    resumed = client.uploader(file_stream=io.BytesIO(first), chunk_size=2 * MiB, url=aborted.url)
    assert resumed.get_offset() == 4 * MiB
    resumed.upload()
    r = _final(stack, [aborted.url, _partial(stack, second)])
    assert r.status_code == 201
    assert _object(stack, r.headers["Location"].rsplit("/", 1)[1]) == first + second


def test_a_partial_checks_its_checksum_like_any_upload(stack):
    h = {**TUS, **stack.headers(), **OCTET}
    r = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Concat": "partial", "Upload-Length": "10"})
    location = r.headers["Location"]
    bad = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    r = requests.patch(
        location, data=b"0123456789", headers={**h, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {bad}"}
    )
    assert _error(r) == (460, "CHECKSUM_MISMATCH", "The data does not match its checksum; nothing was written.")
    assert requests.head(location, headers=h).headers["Upload-Offset"] == "0"
    # a body over several parts: stored part by part as it arrives, recorded only once it matches
    data = os.urandom(12 * MiB + 3)
    url = _partial(stack, data, chunk_size=12 * MiB + 3, upload_checksum=True)
    r = _final(stack, [url])
    assert r.status_code == 201 and _object(stack, r.headers["Location"].rsplit("/", 1)[1]) == data


def test_a_checksum_mismatch_over_several_parts_keeps_nothing(stack):
    h = {**TUS, **stack.headers(), **OCTET}
    data = os.urandom(11 * MiB)
    location = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": str(len(data))}).headers[
        "Location"
    ]
    wrong = base64.b64encode(hashlib.sha256(data[:-1]).digest()).decode()
    r = requests.patch(location, data=data, headers={**h, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {wrong}"})
    assert r.status_code == 460
    assert requests.head(location, headers=h).headers["Upload-Offset"] == "0"
    right = base64.b64encode(hashlib.sha256(data).digest()).decode()
    r = requests.patch(location, data=data, headers={**h, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {right}"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert _object(stack, location.rsplit("/", 1)[1]) == data


def test_another_producers_partial_is_refused_as_unknown(stack):
    mine = _partial(stack, os.urandom(5 * MiB))
    theirs = _partial(stack, os.urandom(100), producer="producer-b")
    r = _final(stack, [mine, theirs])
    assert _error(r) == (404, "PARTIAL_NOT_FOUND", "Partial upload 2 was not found.")
    r = _final(stack, [mine, theirs], producer="producer-b")
    assert _error(r) == (404, "PARTIAL_NOT_FOUND", "Partial upload 1 was not found.")
    assert _final(stack, [mine]).status_code == 201  # nothing of the refused finals stuck to the partial


def test_final_upload_refusals(stack):
    h = {**TUS, **stack.headers()}
    big, small = _partial(stack, os.urandom(5 * MiB)), _partial(stack, os.urandom(1000))
    plain = stack.tus_upload(b"plain bytes")
    unfinished = requests.post(
        f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Concat": "partial", "Upload-Length": "100"}
    ).headers["Location"]
    limits = stack.settings
    cases = [
        (
            _final(stack, [small, big]),
            (
                400,
                "PARTIAL_TOO_SMALL",
                f"Partial upload 1 is 1000 bytes; every partial upload but the last must be "
                f"at least {limits.upload_concat_part_min_bytes} bytes.",
            ),
        ),
        (
            _final(stack, [big, big]),
            (400, "CONCAT_PART_REPEATED", "Each partial upload may appear once in a final upload."),
        ),
        (
            _final(stack, [big, f"{stack.url}/api/v1/uploads/{plain}"]),
            (400, "NOT_PARTIAL", "Upload 2 is not a partial upload (it was not created with Upload-Concat: partial)."),
        ),
        (
            _final(stack, [big, unfinished]),
            (
                400,
                "PARTIAL_INCOMPLETE",
                "Partial upload 2 is not finished (0 of 100 bytes); finish it before creating the final upload.",
            ),
        ),
        (
            _final(stack, [big] * (limits.upload_concat_parts_max + 1)),
            (
                400,
                "CONCAT_TOO_MANY_PARTS",
                f"A final upload may join at most {limits.upload_concat_parts_max} partial uploads.",
            ),
        ),
        (
            _final(stack, [big, small], **{"Upload-Length": str(5 * MiB + 1000)}),
            (
                400,
                "CONCAT_LENGTH_FORBIDDEN",
                "A final upload takes its length from its partial uploads; send no Upload-Length.",
            ),
        ),
        (
            _final(stack, ["https://elsewhere.example/files/abc"]),
            (
                400,
                "CONCAT_INVALID",
                'Upload-Concat must be "partial", or '
                '"final;" followed by the URLs of your partial uploads '
                "separated by spaces.",
            ),
        ),
        (
            requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Concat": "final;"}),
            (400, "CONCAT_INVALID", None),
        ),
        (
            requests.post(
                f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Concat": "partial;x", "Upload-Length": "1"}
            ),
            (400, "CONCAT_INVALID", None),
        ),
    ]
    for answer, (status, code, message) in cases:
        assert _error(answer)[:2] == (status, code), answer.text
        if message is not None:
            assert _error(answer)[2] == message
    r = _final(stack, [big, small])  # nothing of the refusals stuck to the partials
    assert r.status_code == 201


def test_a_partial_cannot_be_saved_and_the_final_saves_and_counts_as_one_upload(stack):
    wav = beat_wav(40)
    urls = _parallel(stack, [wav[: 5 * MiB], wav[5 * MiB :]])
    cover = stack.tus_upload(cover_bytes(1000), filename="cover.jpg")
    fields = {
        "title": "Split",
        "artists": ["Kai"],
        "bpm": 120,
        "key": "A",
        "scale": "minor",
        "licensing": "non_exclusive",
        "cover_upload_id": cover,
    }
    r = stack.save({**fields, "audio_upload_id": urls[0].rsplit("/", 1)[1]}, producer="producer-a")
    assert r.status_code == 422
    assert {
        "field": "audio",
        "code": "UPLOAD_PARTIAL",
        "message": "The audio upload is one part of a parallel upload; save the final upload that joins its parts.",
    } in r.json()["errors"]
    meta = "filename " + base64.b64encode(b"split.wav").decode() + ",kind " + base64.b64encode(b"audio").decode()
    final = _final(stack, urls, **{"Upload-Metadata": meta}).headers["Location"].rsplit("/", 1)[1]
    inspection = requests.get(f"{stack.url}/api/v1/uploads/{final}", headers=stack.headers()).json()["inspection"]
    assert inspection["format"] == "wav" and inspection["problems"] == []
    assert round(inspection["facts"]["duration_s"]) == 40
    before = requests.get(f"{stack.url}/api/v1/me", headers=stack.headers()).json()["upload_minutes"]["used"]
    r = stack.save({**fields, "audio_upload_id": final})
    assert r.status_code == 202, r.text
    after = requests.get(f"{stack.url}/api/v1/me", headers=stack.headers()).json()["upload_minutes"]["used"]
    assert round(after - before, 2) == round(40 / 60, 2)


def test_deleting_a_final_deletes_its_partials_and_a_lone_partial_as_any_upload(stack):
    h = {**TUS, **stack.headers()}
    urls = _parallel(stack, [os.urandom(5 * MiB), os.urandom(10)])
    location = _final(stack, urls).headers["Location"]
    assert requests.delete(location, headers=h).status_code == 204
    for url in [location, *urls]:
        assert requests.head(url, headers=h).status_code == 410
    lone = _partial(stack, os.urandom(10))
    assert requests.delete(lone, headers=h).status_code == 204
    assert _error(_final(stack, [lone])) == (
        410,
        "PARTIAL_GONE",
        "Partial upload 1 has expired or was cancelled; upload the file again.",
    )


def test_an_expired_partial_cannot_be_joined(real_settings, stack_factory):
    stack = stack_factory(real_settings)  # its own: the sweep sees every upload of the database
    h = {**TUS, **stack.headers(), **OCTET}
    done = _partial(stack, os.urandom(5 * MiB))
    stack.gateway.uploads.settings = stack.settings.model_copy(update={"upload_expiry_s": 0})
    location = requests.post(
        f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Concat": "partial", "Upload-Length": "100"}
    ).headers["Location"]
    time.sleep(0.05)
    r = requests.patch(location, data=b"a" * 100, headers={**h, "Upload-Offset": "0"})
    assert _error(r)[:2] == (410, "UPLOAD_GONE")
    assert _error(_final(stack, [done, location])) == (
        410,
        "PARTIAL_GONE",
        "Partial upload 2 has expired or was cancelled; upload the file again.",
    )
    assert stack.gateway.uploads.sweep_expired() >= 1
    assert _error(_final(stack, [done, location]))[:2] == (410, "PARTIAL_GONE")


def test_a_final_whose_assembly_broke_off_is_finished_by_the_retry(real_settings, stack_factory):
    stack = stack_factory(real_settings)  # its own: its store is made to fail once
    data = [os.urandom(5 * MiB), os.urandom(77)]
    urls = _parallel(stack, data)
    store = stack.gateway.uploads.store
    compose = store.compose

    def broken(*args, **kwargs):  # as when the gateway dies mid-copy
        store.compose = compose
        raise ConnectionError("storage went away")

    store.compose = broken
    assert _final(stack, urls).status_code == 500
    with stack.gateway.factory() as s:
        (left,) = s.query(Upload).filter(Upload.concat == "final").all()
    assert left.status == "active"
    head = requests.head(f"{stack.url}/api/v1/uploads/{left.id}", headers={**TUS, **stack.headers()})
    assert head.status_code == 200 and "Upload-Offset" not in head.headers  # tus: not until it is assembled
    r = _final(stack, urls)
    assert r.status_code == 201 and r.headers["Location"].endswith(left.id)
    assert _object(stack, left.id) == b"".join(data)
