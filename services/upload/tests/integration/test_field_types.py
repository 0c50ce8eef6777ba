"""Every body field of the save and retry routes given the wrong JSON type: 422 with that field's
code and sentence, never a 5xx (real PostgreSQL and S3, catalog in process)."""

from __future__ import annotations

import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beatpass_common.events import TrackMetadata, new_event
from beatpass_common.testing.json_bodies import JSON_VALUES, has_nul
from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(name="stack")
def _stack(module_stack):
    return module_stack  # every test here only reads or adds records of its own


FIELDS = {
    "title": "Night Drive",
    "artists": ["Kai"],
    "bpm": 120,
    "key": "A",
    "scale": "minor",
    "licensing": "non_exclusive",
}
WRONG = [123, 1.5, True, ["x"], {}, -1, 10**30]

# field in the body -> (field in the answer, code) when it holds something that is not text
NOT_TEXT = {
    "audio_upload_id": (
        "audio",
        "AUDIO_UPLOAD_ID_INVALID",
        "The audio upload id must be text (the id of your upload).",
    ),
    "cover_upload_id": (
        "cover",
        "COVER_UPLOAD_ID_INVALID",
        "The cover art upload id must be text (the id of your upload).",
    ),
    "title": ("title", "TITLE_NOT_TEXT", "Title must be text."),
    "description": ("description", "DESCRIPTION_NOT_TEXT", "Description must be text."),
    "mood": ("mood", "MOOD_NOT_TEXT", "Mood must be text."),
    "replaces_track_id": (
        "replaces_track_id",
        "REPLACES_TRACK_ID_INVALID",
        "The track to replace must be given by its id (text).",
    ),
    "key": ("key", "KEY_INVALID", "Key must be one of C, C#, D, D#, E, F, F#, G, G#, A, A#, B."),
    "scale": ("scale", "SCALE_INVALID", "Scale must be major or minor."),
    "licensing": ("licensing", "LICENSING_INVALID", "Licensing must be non_exclusive, exclusive or free_download."),
}
# list fields: one element that is not text (or a value that is neither a list nor text)
NOT_NAMES = {
    "artists": ("artists", "ARTISTS_NOT_TEXT", "Each artist must be a name (text)."),
    "genres": ("genres", "GENRES_NOT_TEXT", "Each genre must be a name (text)."),
    "tags": ("tags", "TAGS_NOT_TEXT", "Each tag must be text."),
}


@pytest.fixture
def uploads(stack):
    return {
        "audio": stack.tus_upload(beat_wav(12), filename="beat.wav"),
        "cover": stack.tus_upload(cover_bytes(1000), filename="cover.jpg"),
    }


def _errors(r) -> dict:
    assert r.status_code == 422, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    return {e["field"]: (e["code"], e["message"]) for e in r.json()["errors"]}


def test_every_field_of_another_type_has_its_own_sentence(stack, uploads):
    """One stack for all of them: each input alone in an otherwise valid body."""
    cases = [(name, value, NOT_TEXT[name]) for name in sorted(NOT_TEXT) for value in WRONG]
    cases += [
        (name, value, NOT_NAMES[name])
        for name in sorted(NOT_NAMES)
        for value in ([1], ["Kai", 2], [None], [["x"]], 5, {}, True)
    ]
    for name, value, (field, code, message) in cases:
        body = {**FIELDS, "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"], name: value}
        assert _errors(stack.save(body)) == {field: (code, message)}, (name, value)


def test_a_collection_with_fields_of_another_type(stack, uploads):
    url = f"{stack.url}/api/v1/collections"
    r = requests.post(url, headers=stack.headers(), timeout=30, json={"title": 5, "cover_upload_id": 123, "tracks": {}})
    assert _errors(r) == {
        "title": ("COLLECTION_TITLE_NOT_TEXT", "Collection title must be text."),
        "cover": ("COVER_UPLOAD_ID_INVALID", "The cover art upload id must be text (the id of your upload)."),
        "tracks": ("COLLECTION_TRACKS_INVALID", "Tracks must be a list of tracks, each an object with its fields."),
    }
    r = requests.post(
        url,
        headers=stack.headers(),
        timeout=30,
        json={
            "title": "Tape",
            "cover_upload_id": uploads["cover"],
            "tracks": ["x", {**FIELDS, "audio_upload_id": [uploads["audio"]]}],
        },
    )
    assert _errors(r) == {
        "tracks[0]": ("COLLECTION_TRACKS_INVALID", "Tracks must be a list of tracks, each an object with its fields."),
        "tracks[1].audio": ("AUDIO_UPLOAD_ID_INVALID", "The audio upload id must be text (the id of your upload)."),
    }


def _rejected_track(stack, uploads) -> str:
    r = stack.save({**FIELDS, "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]})
    assert r.status_code == 202, r.text
    track_id = r.json()["track_id"]

    def view():
        status, body = stack.gateway.catalog.get("producer-a", f"tracks/{track_id}")
        return body if status == 200 else None

    deadline = time.monotonic() + 30
    while view() is None:
        assert time.monotonic() < deadline, "the catalog did not record the track"
        time.sleep(0.05)
    stack.runtimes[0].bus.publish(
        new_event(
            "track.rejected",
            {"errors": [{"code": "AUDIO_TOO_SHORT", "field": "audio", "message": "Too short."}]},
            producer_id="producer-a",
            track_id=track_id,
            attempt=0,
        )
    )
    while view()["status"] != "rejected":
        assert time.monotonic() < deadline, "the catalog did not record the rejection"
        time.sleep(0.05)
    return track_id


def test_a_retry_with_an_audio_upload_id_of_another_type(stack, uploads):
    track_id = _rejected_track(stack, uploads)
    for value in WRONG:
        r = requests.post(
            f"{stack.url}/api/v1/tracks/{track_id}/retry",
            json={"audio_upload_id": value},
            headers=stack.headers(),
            timeout=30,
        )
        assert _errors(r) == {"audio": NOT_TEXT["audio_upload_id"][1:]}, value


# ---- property: random JSON types in every field --------------------------------------------

# The upload ids first, then the track's metadata fields (one list: TrackMetadata).
TRACK_FIELDS = ["audio_upload_id", "cover_upload_id", *TrackMetadata.model_fields, "replaces_track_id"]
# Never a working upload id: a body can then never be saved, so each example checks fields afresh.
BODIES = st.fixed_dictionaries(
    {"audio_upload_id": JSON_VALUES.filter(lambda v: v is not None)},
    optional=dict.fromkeys(TRACK_FIELDS[1:], JSON_VALUES),
)


def _expected_type_errors(body: dict, prefix: str = "") -> dict:
    """The answer's field -> code for each field of ``body`` holding the wrong type."""
    expected = {}
    for name, value in body.items():
        if name in NOT_TEXT and value is not None and not isinstance(value, str):
            expected[prefix + NOT_TEXT[name][0]] = NOT_TEXT[name][1]
        if (
            name in NOT_NAMES
            and value is not None
            and not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)))
        ):
            expected[prefix + NOT_NAMES[name][0]] = NOT_NAMES[name][1]
    return expected


def _check_problem(r, expected: dict, sent=None) -> None:
    assert r.status_code < 500, r.text
    if has_nul(sent):  # no database or event holds NUL: refused before any field rule
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BODY_TEXT_INVALID", r.text
        return
    assert r.status_code in (404, 409, 422), r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    errors = r.json()["errors"]
    assert errors and all(
        set(e) == {"field", "code", "message"}
        and isinstance(e["code"], str)
        and isinstance(e["message"], str)
        and e["message"]
        for e in errors
    )
    if r.status_code == 422:
        codes = {e["field"]: e["code"] for e in errors}
        for field, code in expected.items():
            assert codes.get(field) == code, (field, code, errors)


def test_random_json_types_in_saves_and_retries_never_answer_5xx(stack, uploads):
    track_id = _rejected_track(stack, uploads)
    session = requests.Session()
    session.headers.update(stack.headers())

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES, route=st.sampled_from(["save", "retry", "collection"]))
    def check(body, route):
        if route == "save":
            r = session.post(f"{stack.url}/api/v1/tracks", json=body, timeout=30)
            expected, sent = _expected_type_errors(body), body
        elif route == "retry":
            r = session.post(f"{stack.url}/api/v1/tracks/{track_id}/retry", json=body, timeout=30)
            expected, sent = _expected_type_errors(body), body
        else:  # the item's fields answer as tracks[0].<field>; a collection item replaces nothing
            item = {k: v for k, v in body.items() if k != "replaces_track_id"}
            r = session.post(
                f"{stack.url}/api/v1/collections",
                timeout=30,
                json={"title": "Tape", "cover_upload_id": body.get("cover_upload_id"), "tracks": [item]},
            )
            expected, sent = _expected_type_errors(item, "tracks[0]."), item
        _check_problem(r, expected, sent)

    check()
