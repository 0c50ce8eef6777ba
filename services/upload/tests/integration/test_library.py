"""The library on any device (collections list, single tracks, the audio link), listening (HTTP
ranges on the original WAV), problems before Save (inspection at upload completion) and request
ids, through one gateway + catalog on real PostgreSQL and S3 for the whole module."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from beatpass_common.logs import JsonFormatter
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload.models import OutboxEvent, Upload

pytestmark = pytest.mark.integration
TUS = {"Tus-Resumable": "1.0.0"}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
NOT_SQUARE = (
    "This image is 600 × 400 pixels, which is not square. BeatPass accepts square cover art (width and "
    "height within 1 % of each other)."
)
DIMENSIONS = (
    "This image is 600 × 400 pixels. BeatPass accepts square cover art from 1,000 × 1,000 to 6,000 × 6,000 pixels."
)
MP3_SENTENCE = "This file is MP3 audio, not WAV. BeatPass accepts WAV audio only."
FLAC_SENTENCE = "This file is FLAC audio, not WAV. BeatPass accepts WAV audio only."


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


def _get(stack, path, producer="producer-a", **headers):
    return requests.get(f"{stack.url}{path}", headers={**stack.headers(producer), **headers}, timeout=30)


def _wait(what, check, timeout=30.0):
    """``check()``'s first truthy value within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")


def _encoded(tmp_path_factory, tool: str, ext: str) -> bytes:
    root = tmp_path_factory.mktemp("encoded")
    (root / "source.wav").write_bytes(beat_wav(1.0))
    out = root / f"out.{ext}"
    args = ["lame", "--quiet"] if tool == "lame" else ["sox"]
    subprocess.run([*args, str(root / "source.wav"), str(out)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def saved(module_stack):
    """A track of producer-a with its audio: (track id, audio bytes, the save's answer)."""
    audio = beat_wav(12, seed=3)
    ids = {
        "audio": module_stack.tus_upload(audio, filename="Night Drive.wav", kind="audio"),
        "cover": module_stack.tus_upload(cover_bytes(1000), filename="cover.jpg", kind="cover"),
    }
    r = module_stack.save({**_fields(), "audio_upload_id": ids["audio"], "cover_upload_id": ids["cover"]})
    assert r.status_code == 202, r.text
    return r.json()["track_id"], audio


# ---- listen: the producer's own audio, in ranges ----------------------------------------------


def test_the_track_view_links_its_audio_and_the_signed_link_plays_it_whole(module_stack, saved):
    track_id, audio = saved
    view = _wait(
        "the catalog records the track",
        lambda: (r := _get(module_stack, f"/api/v1/tracks/{track_id}")).status_code == 200
        and r.json()["version"] > 0
        and r.json(),
    )
    link = view["audio"]
    assert link["filename"] == "Night Drive.wav" and link["content_type"] == "audio/wav"
    assert link["url"].startswith(f"/api/v1/tracks/{track_id}/media/audio?producer=producer-a&expires=")
    listed = _get(module_stack, "/api/v1/tracks?per_page=100").json()["items"]
    assert next(t for t in listed if t["id"] == track_id)["audio"]["url"] == link["url"]

    whole = requests.get(f"{module_stack.url}{link['url']}", timeout=30)  # no Authorization: an <audio> element
    assert whole.status_code == 200 and whole.content == audio
    assert whole.headers["Content-Type"] == "audio/wav" and whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Length"] == str(len(audio)) and whole.headers["ETag"]


@pytest.mark.parametrize(
    "header, status, part",
    [
        ("bytes=0-99", 206, slice(0, 100)),
        ("bytes=-500", 206, slice(-500, None)),  # suffix
        ("bytes=1000-", 206, slice(1000, None)),  # open
        ("bytes=100-99999999999", 206, slice(100, None)),  # past the end: to the end
        ("bytes=0-0", 206, slice(0, 1)),
        ("bytes=0-9,20-29", 200, slice(None)),  # several ranges: the whole file
        ("bytes=9-1", 200, slice(None)),  # invalid: ignored
        ("items=0-9", 200, slice(None)),
    ],
)
def test_ranges(module_stack, saved, header, status, part):
    track_id, audio = saved
    r = _get(module_stack, f"/api/v1/tracks/{track_id}/media/audio", Range=header)
    assert r.status_code == status and r.content == audio[part]
    assert r.headers["Content-Length"] == str(len(audio[part]))
    if status == 206:
        start = len(audio) - 500 if header == "bytes=-500" else int(header[6:].split("-")[0])
        assert r.headers["Content-Range"] == f"bytes {start}-{start + len(audio[part]) - 1}/{len(audio)}"
    else:
        assert "Content-Range" not in r.headers


def test_a_range_past_the_end_is_416_and_if_range_and_head_behave(module_stack, saved):
    track_id, audio = saved
    path = f"/api/v1/tracks/{track_id}/media/audio"
    for header in (f"bytes={len(audio)}-", "bytes=-0", f"bytes={len(audio) + 10}-{len(audio) + 20}"):
        r = _get(module_stack, path, Range=header)
        assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(audio)}"
        message = f"This range is outside the audio file, which is {len(audio)} bytes long."
        assert r.json()["errors"] == [{"field": None, "code": "RANGE_NOT_SATISFIABLE", "message": message}]
        assert r.json()["request_id"] == r.headers["X-Request-Id"]
    etag = _get(module_stack, path, Range="bytes=0-1").headers["ETag"]
    assert _get(module_stack, path, Range="bytes=0-1", **{"If-Range": etag}).status_code == 206
    assert _get(module_stack, path, Range="bytes=0-1", **{"If-Range": '"another"'}).status_code == 200
    head = requests.head(
        f"{module_stack.url}{path}", headers={**module_stack.headers(), "Range": "bytes=10-19"}, timeout=30
    )
    assert head.status_code == 206 and head.headers["Content-Length"] == "10" and head.content == b""


def test_nobody_else_hears_it(module_stack, saved):
    track_id, _ = saved
    path = f"/api/v1/tracks/{track_id}/media/audio"
    other = _get(module_stack, path, producer="producer-b")
    assert other.status_code == 404 and other.json()["errors"][0] == {
        "field": "media",
        "code": "MEDIA_NOT_FOUND",
        "message": "Media not found.",
    }
    # An unknown id and one that is no id at all answer exactly as another producer's.
    for unknown in (uuid.uuid4(), "not-a-uuid"):
        answer = _get(module_stack, f"/api/v1/tracks/{unknown}/media/audio").json()
        assert (answer["title"], answer["errors"]) == (other.json()["title"], other.json()["errors"])
    assert requests.get(f"{module_stack.url}{path}", timeout=30).status_code == 401
    link = _get(module_stack, f"/api/v1/tracks/{track_id}").json()["audio"]["url"]
    for forged in (
        link.replace("producer=producer-a", "producer=producer-b"),
        link[:-4] + "0000",
        link.replace(f"/tracks/{track_id}/", f"/tracks/{uuid.uuid4()}/"),
    ):
        r = requests.get(f"{module_stack.url}{forged}", timeout=30)
        assert r.status_code in (401, 404) and r.json()["errors"][0]["code"] in ("LINK_INVALID", "MEDIA_NOT_FOUND")
    # A producer's valid link for their own track does not open another's.
    expires = urlsplit(link).query
    assert (
        requests.get(f"{module_stack.url}/api/v1/tracks/{uuid.uuid4()}/media/audio?{expires}", timeout=30).json()[
            "errors"
        ][0]["code"]
        == "LINK_INVALID"
    )


# ---- the library ------------------------------------------------------------------------------


def test_collections_newest_first_and_single_tracks_on_any_device(module_stack):
    producer = f"library-{uuid.uuid4().hex[:8]}"
    up = lambda data, **kw: module_stack.tus_upload(data, producer=producer, **kw)  # noqa: E731
    single = module_stack.save(
        {
            **_fields(title="Alone"),
            "audio_upload_id": up(beat_wav(10, seed=40)),
            "cover_upload_id": up(cover_bytes(1000)),
        },
        producer=producer,
    ).json()["track_id"]
    collections = []
    for i in range(2):
        r = requests.post(
            f"{module_stack.url}/api/v1/collections",
            headers=module_stack.headers(producer),
            timeout=30,
            json={
                "title": f"Tape {i}",
                "cover_upload_id": up(cover_bytes(1000)),
                "tracks": [{**_fields(title=f"Side {i}"), "audio_upload_id": up(beat_wav(10, seed=41 + i))}],
            },
        )
        assert r.status_code == 202, r.text
        collections.append(r.json())
    listed = _wait(
        "the catalog records both collections",
        lambda: (r := _get(module_stack, "/api/v1/collections", producer)).json()["total"] == 2 and r.json(),
    )
    assert [c["id"] for c in listed["items"]] == [c["collection_id"] for c in reversed(collections)]
    assert (listed["page"], listed["per_page"]) == (1, 20)
    item = listed["items"][0]["items"][0]
    assert item["id"] == collections[1]["track_ids"][0] and item["audio"]["content_type"] == "audio/wav"
    page2 = _get(module_stack, "/api/v1/collections?page=2&per_page=1", producer).json()
    assert [c["id"] for c in page2["items"]] == [collections[0]["collection_id"]] and page2["total"] == 2
    assert _get(module_stack, "/api/v1/collections", "stranger").json() == {
        "items": [],
        "page": 1,
        "per_page": 20,
        "total": 0,
    }

    _wait(
        "the catalog records the three tracks",
        lambda: _get(module_stack, "/api/v1/tracks", producer).json()["total"] == 3,
    )
    assert [t["id"] for t in _get(module_stack, "/api/v1/tracks?single=true", producer).json()["items"]] == [single]
    assert _get(module_stack, "/api/v1/tracks?single=false", producer).json()["total"] == 3
    bad = _get(module_stack, "/api/v1/tracks?single=yes&per_page=0", producer)
    assert bad.status_code == 400 and {(e["field"], e["message"]) for e in bad.json()["errors"]} == {
        ("single", "single must be true or false."),
        ("per_page", "per_page must be a whole number from 1 to 100."),
    }
    bad = _get(module_stack, "/api/v1/collections?page=0&per_page=１０", producer)
    assert bad.status_code == 400 and [(e["field"], e["code"], e["message"]) for e in bad.json()["errors"]] == [
        ("page", "QUERY_INVALID", "page must be a whole number from 1 to 100000."),
        ("per_page", "QUERY_INVALID", "per_page must be a whole number from 1 to 100."),
    ]
    assert requests.get(f"{module_stack.url}/api/v1/collections", timeout=30).status_code == 401


# ---- problems before Save -----------------------------------------------------------------------


def test_an_upload_is_inspected_once_when_it_completes(module_stack, tmp_path_factory):
    mp3 = module_stack.tus_upload(_encoded(tmp_path_factory, "lame", "mp3"), filename="beat.wav", kind="audio")
    with module_stack.gateway.factory() as s:  # stored by the PATCH that completed it
        assert s.get(Upload, mp3).inspection["problems"][0]["code"] == "AUDIO_NOT_WAV"
    r = _get(module_stack, f"/api/v1/uploads/{mp3}")
    assert r.status_code == 200 and r.json() == {
        "id": mp3,
        "kind": "audio",
        "filename": "beat.wav",
        "length": r.json()["length"],
        "offset": r.json()["length"],
        "complete": True,
        "inspection": {
            "kind": "audio",
            "format": "mp3",
            "facts": None,
            "problems": [{"field": "audio", "code": "AUDIO_NOT_WAV", "message": MP3_SENTENCE}],
        },
    }
    good = module_stack.tus_upload(beat_wav(12), filename="good.wav", kind="audio")
    assert _get(module_stack, f"/api/v1/uploads/{good}").json()["inspection"] == {
        "kind": "audio",
        "format": "wav",
        "problems": [],
        "facts": {"sample_rate": 44100, "bit_depth": 16, "channels": 2, "duration_s": 12.0},
    }
    head = requests.head(
        f"{module_stack.url}/api/v1/uploads/{good}", headers={**TUS, **module_stack.headers()}, timeout=30
    )
    assert head.status_code == 200 and head.headers["Upload-Offset"] == head.headers["Upload-Length"]  # still tus


def test_unfinished_gone_foreign_and_undeclared_uploads(module_stack):
    h = {**TUS, **module_stack.headers()}
    location = requests.post(
        f"{module_stack.url}/api/v1/uploads",
        timeout=30,
        headers={**h, "Upload-Length": "1000", "Upload-Metadata": "kind Y292ZXI="},
    ).headers["Location"]  # kind cover
    unfinished = _get(module_stack, urlsplit(location).path).json()
    assert (unfinished["kind"], unfinished["complete"], unfinished["offset"], unfinished["inspection"]) == (
        "cover",
        False,
        0,
        None,
    )
    other = _get(module_stack, urlsplit(location).path, producer="producer-b")
    assert other.status_code == 404 and other.json()["errors"][0]["code"] == "UPLOAD_NOT_FOUND"
    assert requests.delete(location, headers=h, timeout=30).status_code == 204
    assert _get(module_stack, urlsplit(location).path).status_code == 410
    assert _get(module_stack, "/api/v1/uploads/nope").status_code == 404
    bad_kind = requests.post(
        f"{module_stack.url}/api/v1/uploads",
        timeout=30,
        headers={**h, "Upload-Length": "10", "Upload-Metadata": "kind dmlkZW8="},
    )  # video
    assert bad_kind.status_code == 400 and bad_kind.json()["errors"] == [
        {"field": None, "code": "UPLOAD_KIND_INVALID", "message": "Upload-Metadata kind must be audio or cover."}
    ]
    guessed = module_stack.tus_upload(cover_bytes(1000, "PNG"), filename="art")  # no kind: it looks like an image
    assert _get(module_stack, f"/api/v1/uploads/{guessed}").json()["inspection"]["kind"] == "cover"


def test_a_save_naming_an_upload_with_problems_answers_the_same_sentences(module_stack, tmp_path_factory):
    cut_wav = module_stack.tus_upload(beat_wav(12)[:30], filename="cut.wav", kind="audio")
    flac = module_stack.tus_upload(_encoded(tmp_path_factory, "sox", "flac"), filename="beat.wav", kind="audio")
    small = module_stack.tus_upload(cover_bytes(600, "PNG", height=400), filename="small.png", kind="cover")
    text = module_stack.tus_upload(b"not a picture at all\n" * 20, filename="cover.jpg", kind="cover")
    inspected = {
        u: _get(module_stack, f"/api/v1/uploads/{u}").json()["inspection"]["problems"]
        for u in (cut_wav, flac, small, text)
    }
    assert inspected[small] == [
        {"field": "cover", "code": "COVER_DIMENSIONS", "message": DIMENSIONS},
        {"field": "cover", "code": "COVER_NOT_SQUARE", "message": NOT_SQUARE},
    ]
    assert inspected[text] == [
        {
            "field": "cover",
            "code": "COVER_NOT_JPEG_OR_PNG",
            "message": "This file is not a recognised image. BeatPass accepts JPEG or PNG cover art only.",
        }
    ]
    assert inspected[cut_wav][0]["code"] == "AUDIO_BAD_HEADER"

    r = module_stack.save({**_fields(), "audio_upload_id": cut_wav, "cover_upload_id": small})
    assert r.status_code == 422 and r.json()["errors"] == inspected[cut_wav] + inspected[small]
    r = requests.post(
        f"{module_stack.url}/api/v1/collections",
        headers=module_stack.headers(),
        timeout=30,
        json={
            "title": "Tape",
            "cover_upload_id": text,
            "tracks": [
                {**_fields(), "audio_upload_id": module_stack.tus_upload(beat_wav(10, seed=9))},
                {**_fields(), "audio_upload_id": flac, "cover_upload_id": small},
            ],
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        *inspected[text],
        {**inspected[flac][0], "field": "tracks[1].audio"},
        *({**p, "field": "tracks[1].cover"} for p in inspected[small]),
    ]
    assert inspected[flac][0]["message"] == FLAC_SENTENCE
    with module_stack.gateway.factory() as s:  # nothing was saved, nothing sent
        assert not s.scalars(select(OutboxEvent).where(OutboxEvent.body.contains(flac))).all()


# ---- request ids --------------------------------------------------------------------------------


def test_every_answer_carries_a_request_id(module_stack):
    h = module_stack.headers()
    answers = {
        "json": requests.get(f"{module_stack.url}/api/v1/rules", timeout=30),
        "page": requests.get(f"{module_stack.url}/backstage/upload", timeout=30),
        "static": requests.get(f"{module_stack.url}/backstage/static/upload.js", timeout=30),
        "health": requests.get(f"{module_stack.url}/healthz", timeout=30),
        "404": requests.get(f"{module_stack.url}/nope", timeout=30),
        "405": requests.put(f"{module_stack.url}/api/v1/tracks", timeout=30),
        "401": requests.get(f"{module_stack.url}/api/v1/me", timeout=30),
        "422": requests.post(f"{module_stack.url}/api/v1/tracks", json={}, headers=h, timeout=30),
        "tus options": requests.options(f"{module_stack.url}/api/v1/uploads", timeout=30),
        "tus 412": requests.post(f"{module_stack.url}/api/v1/uploads", headers=h, timeout=30),
    }
    created = requests.post(
        f"{module_stack.url}/api/v1/uploads", headers={**TUS, **h, "Upload-Length": "3"}, timeout=30
    )
    answers["tus create"] = created
    answers["tus patch"] = requests.patch(
        created.headers["Location"],
        data=b"abc",
        timeout=30,
        headers={**TUS, **h, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    answers["tus head"] = requests.head(created.headers["Location"], headers={**TUS, **h}, timeout=30)
    for name, r in answers.items():
        assert GENERATED_ID.fullmatch(r.headers.get("X-Request-Id", "")), name
        if r.status_code >= 400:
            assert r.json()["request_id"] == r.headers["X-Request-Id"], name
    assert len({r.headers["X-Request-Id"] for r in answers.values()}) == len(answers)

    mine = requests.get(f"{module_stack.url}/api/v1/me", headers={"X-Request-Id": "support-case_1.2"}, timeout=30)
    assert mine.headers["X-Request-Id"] == mine.json()["request_id"] == "support-case_1.2"
    for odd in ("has space", "x" * 65, "semi;colon", ""):
        r = requests.get(f"{module_stack.url}/api/v1/rules", headers={"X-Request-Id": odd}, timeout=30)
        assert GENERATED_ID.fullmatch(r.headers["X-Request-Id"]), odd


def test_a_saves_request_id_is_in_its_events_and_every_services_log_lines(module_stack):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter("test"))
    bus_log = logging.getLogger("beatpass_common.bus.kombu_bus")
    before = bus_log.level
    bus_log.setLevel(logging.INFO)
    bus_log.addHandler(handler)
    request_id = f"trail-{uuid.uuid4().hex}"
    try:
        r = module_stack.save(
            {
                **_fields(),
                "audio_upload_id": module_stack.tus_upload(beat_wav(10, seed=77)),
                "cover_upload_id": module_stack.tus_upload(cover_bytes(1000)),
            },
            **{"X-Request-Id": request_id},
        )
        assert r.status_code == 202 and r.headers["X-Request-Id"] == request_id
        with module_stack.gateway.factory() as s:
            event = json.loads(
                s.scalars(select(OutboxEvent.body).where(OutboxEvent.body.contains(r.json()["track_id"]))).one()
            )
        assert event["request_id"] == request_id and event["type"] == "track.submitted"

        def story():
            found = [json.loads(line) for line in lines.getvalue().splitlines()]
            found = [f for f in found if f.get("request_id") == request_id]
            messages = {f["msg"].split(" in ")[0] for f in found}  # "handled track.submitted in 0.012 s"
            return {f"published track.submitted {event['id']}", "handled track.submitted"} <= messages and found

        found = _wait("the gateway publishes and the catalog handles the event under the request id", story)
        handled = next(f for f in found if f["msg"].startswith("handled track.submitted"))
        assert handled["event_id"] == event["id"] and handled["track_id"] == r.json()["track_id"]
    finally:
        bus_log.removeHandler(handler)
        bus_log.setLevel(before)


# ---- strangers ----------------------------------------------------------------------------------

HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=80)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    range_=st.one_of(
        st.none(), HEADER_TEXT, st.from_regex(r"bytes=-?[0-9]{0,22}-?[0-9]{0,22}(,[0-9]{0,3}-)?", fullmatch=True)
    ),
    request_id=st.one_of(st.none(), HEADER_TEXT, st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)),
    if_range=st.one_of(st.none(), HEADER_TEXT),
)
def test_odd_ranges_and_request_ids_never_make_a_server_error(module_stack, saved, range_, request_id, if_range):
    track_id, audio = saved
    headers = {"Authorization": module_stack.headers()["Authorization"]}
    for name, value in (("Range", range_), ("X-Request-Id", request_id), ("If-Range", if_range)):
        if value is not None:
            headers[name] = value
    conn = http.client.HTTPConnection(urlsplit(module_stack.url).netloc, timeout=30)
    try:
        conn.request(
            "GET",
            f"/api/v1/tracks/{track_id}/media/audio",
            headers={k: v.encode("latin-1") for k, v in headers.items()},
        )
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status in (200, 206, 416), (r.status, body[:300])
    answered = r.getheader("X-Request-Id")
    valid = request_id is not None and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", request_id.strip(" \t"))
    assert answered == request_id.strip(" \t") if valid else GENERATED_ID.fullmatch(answered)
    if r.status == 200:
        assert body == audio
    elif r.status == 206:
        start, end = map(int, r.getheader("Content-Range")[6:].split("/")[0].split("-"))
        assert body == audio[start : end + 1]
