"""A hostile client cannot hurt the gateway: odd digits, huge or deep bodies, tus framing tricks,
deleting uploads a track still needs, oversized collections; every answer is a problem document
with a stable code, and every response carries the browser security headers (docs/api-limits.md)."""

from __future__ import annotations

import base64
import json
import os
import socket
from urllib.parse import urlsplit

import pytest
import requests

from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.integration
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture(name="stack")
def _stack(module_stack):
    return module_stack  # every test here only reads or adds records of its own


def _fields(**over):
    return {
        "title": "Night Drive",
        "artists": ["Kai"],
        "bpm": 120,
        "key": "A",
        "scale": "minor",
        "licensing": "non_exclusive",
        **over,
    }


def _codes(r) -> dict:
    assert r.headers["Content-Type"] == "application/problem+json", (r.status_code, r.text[:300])
    return {e["field"]: e["code"] for e in r.json()["errors"]}


def _create(stack, length: int, **headers) -> requests.Response:
    return requests.post(
        f"{stack.url}/api/v1/uploads",
        timeout=30,
        headers={**TUS, **stack.headers(), "Upload-Length": str(length), **headers},
    )


def _raw(stack, payload: bytes, timeout: float = 10.0) -> bytes:
    """Send ``payload`` on a fresh connection and read until the server closes or goes quiet."""
    host, port = urlsplit(stack.url).hostname, urlsplit(stack.url).port
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received:
                    head, _, body = received.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        None,
                    )
                    if length is not None and len(body) >= length:
                        break
        except TimeoutError:
            pytest.fail(f"no complete answer within {timeout}s: {received[:200]!r}")
    return received


# ---- item 3: whole numbers are ASCII digits ---------------------------------------------------


@pytest.mark.parametrize("value", ["²", "١٢", "１２", "-1", "12a", "9" * 20])
def test_upload_length_of_non_ascii_digits_is_refused_with_a_code(stack, value):
    r = _create(stack, 0, **{"Upload-Length": value.encode()})  # UTF-8 on the wire
    assert r.status_code == 400
    assert _codes(r) == {None: "HEADER_INVALID"}
    assert r.json()["errors"][0]["message"] == "Upload-Length must be a whole number written with the digits 0-9."


def test_upload_offset_of_a_superscript_digit_is_refused(stack):
    location = _create(stack, 10).headers["Location"]
    r = requests.patch(
        location, data=b"x", headers={**TUS, **OCTET, **stack.headers(), "Upload-Offset": "²"}, timeout=30
    )
    assert r.status_code == 400 and _codes(r) == {None: "HEADER_INVALID"}


@pytest.mark.parametrize("value", ["²", "１", "0", "100001"])
def test_page_query_takes_ascii_digits_only(stack, value):
    r = requests.get(f"{stack.url}/api/v1/tracks", params={"page": value}, headers=stack.headers(), timeout=30)
    assert r.status_code == 400 and _codes(r) == {"page": "QUERY_INVALID"}


@pytest.mark.parametrize("bpm", ["²", "120", "１２０", True, 120.5])
def test_bpm_must_be_a_json_number(stack, bpm):
    r = stack.save(_fields(bpm=bpm))
    assert r.status_code == 422
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert errors["bpm"] == {
        "field": "bpm",
        "code": "BPM_INVALID",
        "message": "BPM must be a whole number between 60 and 200.",
    }


def test_bpm_written_as_a_whole_float_is_a_number(stack):
    r = stack.save(_fields(bpm=120.0))
    assert r.status_code == 422  # no uploads given; the bpm itself is fine
    assert "bpm" not in {e["field"] for e in r.json()["errors"]}


# ---- item 4: bodies are bounded in size and depth ----------------------------------------------


def test_a_deeply_nested_body_is_refused_as_invalid(stack):
    body = b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = requests.post(
        f"{stack.url}/api/v1/tracks",
        data=body,
        timeout=30,
        headers={**stack.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and _codes(r) == {"body": "BODY_INVALID"}


def test_nesting_just_past_the_depth_setting_is_refused(stack):
    depth = stack.settings.json_depth_max  # the object itself is level 1
    within = {"tags": json.loads("[" * (depth - 1) + "]" * (depth - 1))}
    deeper = {"tags": json.loads("[" * depth + "]" * depth)}
    assert stack.save(within).status_code == 422
    r = stack.save(deeper)
    assert r.status_code == 400 and _codes(r) == {"body": "BODY_INVALID"}


@pytest.mark.parametrize("raw", [b"NaN", b'{"bpm": NaN}', b'{"bpm": Infinity}', b"\xff\xfe{", b"[]"])
def test_what_is_not_a_json_object_is_body_invalid(stack, raw):
    r = requests.post(
        f"{stack.url}/api/v1/tracks",
        data=raw,
        timeout=30,
        headers={**stack.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and _codes(r) == {"body": "BODY_INVALID"}


def test_a_body_past_the_size_setting_is_413_without_reading_it(stack):
    limit = stack.settings.json_body_max_bytes
    body = json.dumps({"title": "x" * limit}).encode()
    r = requests.post(
        f"{stack.url}/api/v1/tracks",
        data=body,
        timeout=30,
        headers={**stack.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and _codes(r) == {"body": "BODY_TOO_LARGE"}
    assert r.json()["errors"][0]["message"] == f"The request body must be at most {limit} bytes."


# ---- item 6: headers and problem documents -----------------------------------------------------


def test_page_and_api_carry_security_headers_and_no_server_version(stack):
    for path in ("/backstage/upload", "/api/v1/rules", "/api/v1/nope", "/healthz"):
        r = requests.get(f"{stack.url}{path}", headers=stack.headers(), timeout=30)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["Referrer-Policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
        assert r.headers["Server"] == "beatpass", path
    page = requests.get(f"{stack.url}/backstage/upload", timeout=30)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text  # only the bundle and a JSON data block


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/backstage/nope", 404, "NOT_FOUND"),
        ("GET", "/nope", 404, "NOT_FOUND"),
        ("PUT", "/api/v1/tracks", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/backstage/upload", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_errors_flask_raises_itself_are_problem_documents(stack, method, path, status, code):
    r = requests.request(method, f"{stack.url}{path}", timeout=30)
    assert r.status_code == status and _codes(r) == {None: code}


def test_headers_too_large_for_the_server_are_a_problem_document(stack):
    answer = _raw(stack, b"GET /api/v1/rules HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert b"Content-Type: application/problem+json" in head and b"Werkzeug" not in head
    assert json.loads(body)["errors"][0]["code"] == "HEADERS_TOO_LARGE"
    assert f"X-Request-Id: {json.loads(body)['request_id']}".encode() in head


# ---- item 7: uploads a submission needs cannot be deleted -------------------------------------


def test_the_cover_of_a_saved_track_cannot_be_deleted(stack):
    audio = stack.tus_upload(beat_wav(12), filename="beat.wav")
    cover = stack.tus_upload(cover_bytes(1000), filename="cover.jpg")
    assert stack.save({**_fields(), "audio_upload_id": audio, "cover_upload_id": cover}).status_code == 202
    for upload_id in (cover, audio):
        r = requests.delete(f"{stack.url}/api/v1/uploads/{upload_id}", headers={**TUS, **stack.headers()}, timeout=30)
        assert r.status_code == 409 and _codes(r) == {None: "UPLOAD_IN_USE"}
        assert (
            r.json()["errors"][0]["message"]
            == "This upload is part of a saved track or collection and cannot be deleted."
        )
    head = requests.head(f"{stack.url}/api/v1/uploads/{cover}", headers={**TUS, **stack.headers()}, timeout=30)
    assert head.status_code == 200  # still there for the track's processing and its retries


def test_an_unsaved_upload_can_still_be_deleted(stack):
    cover = stack.tus_upload(cover_bytes(1000), filename="cover.jpg")
    r = requests.delete(f"{stack.url}/api/v1/uploads/{cover}", headers={**TUS, **stack.headers()}, timeout=30)
    assert r.status_code == 204
    assert stack.save(
        {**_fields(), "audio_upload_id": stack.tus_upload(beat_wav(12)), "cover_upload_id": cover}
    ).json()["errors"] == [
        {
            "field": "cover",
            "code": "UPLOAD_NOT_FOUND",
            "message": "The cover art upload was not found. Upload the file again.",
        }
    ]


# ---- item 8: collections past the limit are refused, never cut ---------------------------------


def test_a_collection_past_the_track_limit_is_refused_whole(real_settings, stack_factory):
    stack = stack_factory(real_settings.model_copy(update={"collection_tracks_max": 2}))
    cover = stack.tus_upload(cover_bytes(1000), filename="cover.jpg")
    tracks = [{**_fields(title=f"T{i}"), "audio_upload_id": stack.tus_upload(beat_wav(10, seed=i))} for i in range(3)]
    r = requests.post(
        f"{stack.url}/api/v1/collections",
        headers=stack.headers(),
        timeout=30,
        json={"title": "Tape", "cover_upload_id": cover, "tracks": tracks},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "tracks", "code": "COLLECTION_TOO_MANY_TRACKS", "message": "A collection can hold at most 2 tracks."}
    ]
    r = requests.post(
        f"{stack.url}/api/v1/collections",
        headers=stack.headers(),
        timeout=30,
        json={"title": "Tape", "cover_upload_id": cover, "tracks": tracks[:2]},
    )
    assert r.status_code == 202 and len(r.json()["track_ids"]) == 2


# ---- item 9: tus edges -------------------------------------------------------------------------


def test_an_empty_patch_at_the_servers_offset_is_204_even_when_complete(stack):
    upload_id = stack.tus_upload(b"abc")
    r = requests.patch(
        f"{stack.url}/api/v1/uploads/{upload_id}",
        data=b"",
        timeout=30,
        headers={**TUS, **OCTET, **stack.headers(), "Upload-Offset": "3"},
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "3"
    location = _create(stack, 10).headers["Location"]
    r = requests.patch(
        location, data=b"", headers={**TUS, **OCTET, **stack.headers(), "Upload-Offset": "0"}, timeout=30
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "0"


def test_a_patch_declaring_more_than_the_room_left_stores_nothing(stack):
    part = stack.settings.upload_part_bytes
    location = _create(stack, part + 1024).headers["Location"]
    r = requests.patch(
        location,
        data=os.urandom(part + 4096),
        timeout=60,
        headers={**TUS, **OCTET, **stack.headers(), "Upload-Offset": "0"},
    )
    assert r.status_code == 413 and _codes(r) == {None: "UPLOAD_OVERFLOW"}
    head = requests.head(location, headers={**TUS, **stack.headers()}, timeout=30)
    assert head.headers["Upload-Offset"] == "0"


def test_content_length_with_chunked_transfer_encoding_is_refused_at_once(stack):
    location = _create(stack, 10).headers["Location"]
    path = urlsplit(location).path
    auth = stack.headers()["Authorization"]
    answer = _raw(
        stack,
        (
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nTus-Resumable: 1.0.0\r\n"
            "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        ).encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["errors"][0]["code"] == "FRAMING_INVALID"
    assert requests.head(location, headers={**TUS, **stack.headers()}, timeout=30).headers["Upload-Offset"] == "0"


def test_upload_metadata_past_its_limit_is_refused(stack):
    big = "filename " + base64.b64encode(b"x" * 30_000).decode()
    r = _create(stack, 10, **{"Upload-Metadata": big})
    assert r.status_code == 400 and _codes(r) == {None: "METADATA_TOO_LARGE"}
    limit = stack.settings.upload_metadata_max_bytes
    assert r.json()["errors"][0]["message"] == f"Upload-Metadata must be at most {limit} bytes."
    assert (
        _create(stack, 10, **{"Upload-Metadata": "filename " + base64.b64encode(b"beat.wav").decode()}).status_code
        == 201
    )


# ---- texts no database or event can carry (a stranger's 500) ----------------------------------


@pytest.mark.parametrize("text", ["\\ud800", "a\\udfffb", "\\u0000", "Night\\u0000Drive"])
def test_a_lone_surrogate_or_nul_in_any_text_is_refused_before_anything_is_stored(stack, text):
    raw = json.dumps(_fields()).replace('"Night Drive"', f'"{text}"')
    for method, path in (
        ("post", "/api/v1/tracks"),
        ("post", "/api/v1/collections"),
        ("patch", f"/api/v1/tracks/{'0' * 8}-0000-4000-8000-{'0' * 12}"),
    ):
        r = requests.request(
            method,
            f"{stack.url}{path}",
            data=raw.encode(),
            timeout=30,
            headers={**stack.headers(), "Content-Type": "application/json"},
        )
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert r.json()["errors"] == [
            {
                "field": "body",
                "code": "BODY_TEXT_INVALID",
                "message": "Text in the request body must be valid Unicode without NUL characters.",
            }
        ]
    r = requests.post(
        f"{stack.url}/api/v1/tracks",
        data=b'{"\\ud800": 1}',
        timeout=30,
        headers={**stack.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and _codes(r) == {"body": "BODY_TEXT_INVALID"}


@pytest.mark.parametrize("raw", [b"\xff\xfebeat.wav", b"beat\x00.wav"])
def test_upload_metadata_that_is_not_text_says_so(stack, raw):
    r = _create(stack, 10, **{"Upload-Metadata": "filename " + base64.b64encode(raw).decode()})
    assert r.status_code == 400 and r.json()["errors"] == [
        {
            "field": None,
            "code": "METADATA_INVALID",
            "message": "Upload-Metadata values must be base64 of UTF-8 text without NUL characters.",
        }
    ]
