"""Edits and replacements through the gateway on real PostgreSQL and S3, with the catalog in
process: a track's metadata, a collection's title, cover and order, and a new version of a ready
track keeping its other file and metadata. Worker results are published on the bus as the
workers would."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from beatpass_common.db import transaction
from beatpass_common.events import TrackMetadata, new_event
from beatpass_common.testing.json_bodies import JSON_VALUES, has_nul
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload import editing
from beatpass_upload.models import OutboxEvent, Reservation, Submission, Upload
from beatpass_upload.saving import SaveRejected

pytestmark = pytest.mark.integration

FIELDS = {
    "title": "Night Drive",
    "artists": ["Kai"],
    "bpm": 120,
    "key": "A",
    "scale": "minor",
    "licensing": "non_exclusive",
}
REF = {"bucket": "b", "key": "k", "size": 10}
OTHER = "00000000-0000-4000-8000-000000000000"


def _wait(predicate, limit_s: float = 30.0):
    deadline = time.monotonic() + limit_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def _view(stack, path: str, producer: str = "producer-a") -> dict | None:
    """The catalog's own view (not the gateway's)."""
    status, body = stack.gateway.catalog.get(producer, path)
    return body if status == 200 else None


def _publish(stack, type_: str, data: dict, **ids) -> None:
    stack.runtimes[0].bus.publish(new_event(type_, data, producer_id=ids.pop("producer", "producer-a"), **ids))


def _save(stack, producer: str = "producer-a", seconds: float = 12, seed: int = 1, **fields) -> str:
    r = stack.save(
        {
            **FIELDS,
            **fields,
            "audio_upload_id": stack.tus_upload(beat_wav(seconds, seed=seed), producer),
            "cover_upload_id": stack.tus_upload(cover_bytes(1000), producer),
        },
        producer,
    )
    assert r.status_code == 202, r.text
    return r.json()["track_id"]


def _ready(stack, track_id: str, producer: str = "producer-a", attempt: int = 0, estimated_bpm: float | None = None):
    """The three workers' results for ``track_id``'s submission ``attempt``; returns its ready view."""
    _wait(lambda: (v := _view(stack, f"tracks/{track_id}", producer)) and v["submission"] == attempt)
    facts = {
        "format": "WAV",
        "sample_rate": 44100,
        "bit_depth": 16,
        "channels": 2,
        "duration_s": 12.0,
        "estimated_bpm": estimated_bpm,
        "bpm_confidence": 0.9 if estimated_bpm else None,
    }
    ids = {"producer": producer, "track_id": track_id, "attempt": attempt}
    _publish(
        stack,
        "track.validated",
        {
            "source": REF,
            "audio": facts,
            "cover_images": {"large": REF},
            "cover": {"format": "JPEG", "width": 1000, "height": 1000},
        },
        **ids,
    )
    _publish(stack, "waveform.generated", {"json": REF, "dat": REF, "png": REF, "samples_per_pixel": 256}, **ids)
    _publish(stack, "fingerprint.completed", {"duration_s": 12.0}, **ids)
    return _wait(lambda: (v := _view(stack, f"tracks/{track_id}", producer)) and v["status"] == "ready" and v)


def _reject(stack, track_id: str, attempt: int = 0) -> None:
    _wait(lambda: (v := _view(stack, f"tracks/{track_id}")) and v["submission"] == attempt)
    _publish(
        stack,
        "track.rejected",
        {"errors": [{"code": "AUDIO_TOO_SHORT", "field": "audio", "message": "x"}], "step": "validation"},
        track_id=track_id,
        attempt=attempt,
    )
    _wait(lambda: _view(stack, f"tracks/{track_id}")["status"] == "rejected")


def _patch(stack, path: str, body, producer: str = "producer-a", **headers) -> requests.Response:
    return requests.patch(
        f"{stack.url}/api/v1/{path}", json=body, timeout=30, headers={**stack.headers(producer), **headers}
    )


def _replace(stack, track_id: str, body, producer: str = "producer-a", **headers) -> requests.Response:
    return requests.post(
        f"{stack.url}/api/v1/tracks/{track_id}/replace",
        json=body,
        timeout=30,
        headers={**stack.headers(producer), **headers},
    )


def _get(stack, path: str, producer: str = "producer-a") -> dict:
    r = requests.get(f"{stack.url}/api/v1/{path}", headers=stack.headers(producer), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _errors(r, status: int = 422) -> list[tuple]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    return [(e["field"], e["code"], e["message"]) for e in r.json()["errors"]]


def _submission(stack, track_id: str) -> Submission:
    with stack.gateway.factory() as s:
        return s.get(Submission, track_id)


def _outbox(stack, type_: str) -> list[dict]:
    """The events of ``type_`` the gateway staged, oldest first."""
    with stack.gateway.factory() as s:
        return [
            json.loads(e.body)
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.seq))
        ]


def _metadata(fields: dict) -> dict:
    """Metadata as views show it (every field, null when not given)."""
    return TrackMetadata(**fields).model_dump(mode="json")


def _used_minutes(stack) -> float:
    return requests.get(f"{stack.url}/api/v1/me", headers=stack.headers(), timeout=10).json()["upload_minutes"]["used"]


# ---- track metadata ------------------------------------------------------------------------


def test_an_edit_shows_at_once_is_recorded_by_the_catalog_and_replays_by_key(stack):
    track_id = _save(stack)
    _ready(stack, track_id, estimated_bpm=140.0)
    assert _get(stack, f"tracks/{track_id}")["warnings"][0]["code"] == "BPM_MISMATCH"

    stack.gateway.outbox.stop()  # the catalog hears of the edit only once the relay runs again
    body = {"title": "  Night Drive (Remaster) ", "bpm": 140, "tags": "late, drive", "description": None}
    r = _patch(stack, f"tracks/{track_id}", body, **{"Idempotency-Key": "edit-1"})
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["id"], view["status"], view["title"], view["edit"]) == (track_id, "ready", "Night Drive (Remaster)", 1)
    assert view["metadata"] == _metadata(
        {**FIELDS, "title": "Night Drive (Remaster)", "bpm": 140, "tags": ["late", "drive"]}
    )
    assert view["warnings"] == []  # the BPM now agrees with the audio
    assert "signature=" in view["cover"]["large"]
    # Presented like a read: the producer's audio link and the files support asks for.
    assert (
        "signature=" in view["audio"]["url"]
        and view["files"]["audio"]["upload_id"] == _submission(stack, track_id).audio_upload_id
    )
    assert view["files"]["cover"]["upload_id"] == _submission(stack, track_id).cover_upload_id
    # Read-after-write while the catalog still shows the old metadata.
    assert _view(stack, f"tracks/{track_id}")["title"] == "Night Drive"
    assert _get(stack, f"tracks/{track_id}")["title"] == "Night Drive (Remaster)"
    listed = _get(stack, "tracks")["items"]
    assert [(t["id"], t["title"]) for t in listed] == [(track_id, "Night Drive (Remaster)")]

    # The same key and body replay the answer; another body under it is refused.
    again = _patch(stack, f"tracks/{track_id}", body, **{"Idempotency-Key": "edit-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["metadata"] == view["metadata"] and "signature=" in again.json()["cover"]["large"]
    assert _errors(_patch(stack, f"tracks/{track_id}", {"title": "Other"}, **{"Idempotency-Key": "edit-1"})) == [
        (None, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used for a different request.")
    ]
    # The same change again, without a key, changes nothing: no second edit.
    assert _patch(stack, f"tracks/{track_id}", {"bpm": 140}).json()["edit"] == 1

    stack.gateway.outbox.relay_once()  # the relay's loop stays stopped: this sends what waits
    caught_up = _wait(lambda: (v := _view(stack, f"tracks/{track_id}")) and v["edit"] == 1 and v)
    assert caught_up["title"] == "Night Drive (Remaster)" and caught_up["metadata"] == view["metadata"]
    assert caught_up["warnings"] == [] and caught_up["status"] == "ready"
    assert [e["data"]["fields"] for e in _outbox(stack, "track.edited")] == [["title", "bpm", "tags"]]
    assert _metadata(_submission(stack, track_id).fields) == view["metadata"]


def test_track_edit_refusals_are_the_saves_sentences_and_only_the_owner_edits(stack):
    track_id = _save(stack)
    for producer, path in (("producer-b", track_id), ("producer-a", OTHER)):
        for r in (
            _patch(stack, f"tracks/{path}", {"title": "Mine"}, producer),
            _replace(stack, path, {"cover_upload_id": "x"}, producer),
        ):
            assert _errors(r, 404) == [("track", "TRACK_NOT_FOUND", "Track not found.")]
    assert _patch(stack, "tracks/not-a-uuid", {"title": "x"}).status_code == 404
    unapproved = requests.patch(
        f"{stack.url}/api/v1/tracks/{track_id}", json={"title": "x"}, timeout=10, headers=stack.headers(approved=False)
    )
    assert unapproved.status_code == 403
    audio, cover = stack.tus_upload(beat_wav(12, seed=7)), stack.tus_upload(cover_bytes(1000))
    bad = {
        "title": ["", None, 5, "x" * 101],
        "artists": [[], ["a"] * 6, [""], [1], None, "x" * 101],
        "bpm": [59, 201, 120.5, "120", True, None, 10**30],
        "key": ["H", None, 5, "a"],
        "scale": ["dorian", None, ["minor"]],
        "licensing": ["free", None, {}],
        "description": ["x" * 2001, 5],
        "genres": [["a"] * 4, [1], 7],
        "tags": [["a"] * 11, ["x" * 41], [1], [""]],
        "mood": ["x" * 51, 5, False],
    }
    for name, values in bad.items():
        for value in values:
            saved = stack.save({**FIELDS, "audio_upload_id": audio, "cover_upload_id": cover, name: value})
            expected = _errors(saved)
            assert expected and all(field == name for field, _, _ in expected), (name, value, expected)
            assert _errors(_patch(stack, f"tracks/{track_id}", {name: value})) == expected, (name, value)
    r = _patch(stack, f"tracks/{track_id}", {"title": 5, "rating": 5, "audio_upload_id": audio})
    assert sorted(_errors(r)) == sorted(
        [
            ("title", "TITLE_NOT_TEXT", "Title must be text."),
            ("rating", "FIELD_UNKNOWN", "This field cannot be changed here."),
            (
                "audio_upload_id",
                "FIELD_NOT_EDITABLE",
                "The audio and cover art of a saved track are changed by replacing them, not by an edit.",
            ),
        ]
    )
    assert r.json()["title"] == "The change cannot be saved."
    assert _errors(_patch(stack, f"tracks/{track_id}", {})) == [(None, "EDIT_EMPTY", "Change at least one field.")]
    assert _errors(_patch(stack, f"tracks/{track_id}", [1]), 400)[0][1] == "BODY_INVALID"
    assert _submission(stack, track_id).edits == 0  # nothing above changed anything
    rules = _get(stack, "rules")["messages"]
    assert rules["EDIT_EMPTY"] == "Change at least one field." and "TRACK_IDS_MISSING" in rules


def test_edits_racing_each_other_and_a_retry_lose_nothing_and_the_retry_submits_them(stack):
    track_id = _save(stack)
    _reject(stack, track_id)
    # A retry checked before an edit and committed after it would submit the older metadata: refused.
    gw = stack.gateway
    base = _submission(stack, track_id)
    checked = gw.saver.check_track("producer-a", {}, track_id=track_id, base=base)
    checked.attempt = 1
    assert _patch(stack, f"tracks/{track_id}", {"title": "Edited meanwhile"}).status_code == 200
    with pytest.raises(SaveRejected) as refused, transaction(gw.factory) as s:
        assert gw.saver.advance(s, track_id, 0)
        gw.saver.save_track(s, "producer-a", 600, checked)
    assert refused.value.status == 409 and refused.value.errors[0].code == "TRACK_EDITED"
    assert _submission(stack, track_id).attempt == 0  # rolled back whole

    # The edited metadata is what the next retry submits.
    r = _patch(stack, f"tracks/{track_id}", {"title": "Fixed title", "mood": "calm"})
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["edit"] == 2
    retry = requests.post(
        f"{stack.url}/api/v1/tracks/{track_id}/retry", json={"bpm": 90}, headers=stack.headers(), timeout=30
    )
    assert retry.status_code == 202, retry.text
    expected = {**FIELDS, "title": "Fixed title", "mood": "calm", "bpm": 90, "genres": [], "tags": []}
    assert _submission(stack, track_id).fields == expected
    assert _outbox(stack, "track.submitted")[-1]["data"]["edit"] == 2
    view = _wait(lambda: (v := _view(stack, f"tracks/{track_id}")) and v["submission"] == 1 and v)
    assert view["metadata"] == _metadata(expected) and view["title"] == "Fixed title"

    # Eight edits of different fields at once, while it is processing: every one kept, numbered 3..10.
    changes = [
        {"title": "T"},
        {"artists": ["Ana", "Kai"]},
        {"bpm": 99},
        {"key": "C#"},
        {"scale": "major"},
        {"licensing": "exclusive"},
        {"genres": ["trap"]},
        {"mood": "dark"},
    ]
    barrier = threading.Barrier(len(changes))

    def edit(change):
        barrier.wait()
        return _patch(stack, f"tracks/{track_id}", change)

    with ThreadPoolExecutor(len(changes)) as pool:
        results = list(pool.map(edit, changes))
    assert [r.status_code for r in results] == [200] * len(changes), [r.text for r in results]
    merged = {k: v for change in changes for k, v in change.items()}
    sub = _submission(stack, track_id)
    assert sub.edits == 2 + len(changes) and sub.fields == {**sub.fields, **merged}
    assert sorted(r.json()["edit"] for r in results) == list(range(3, 3 + len(changes)))
    caught_up = _wait(lambda: (v := _view(stack, f"tracks/{track_id}")) and v["edit"] == sub.edits and v)
    assert caught_up["metadata"] == _metadata(sub.fields)


# ---- replacing audio or cover --------------------------------------------------------------


def test_replacing_the_cover_keeps_the_audio_and_metadata_and_its_minutes_once(stack):
    track_id = _save(stack, seconds=12)
    _ready(stack, track_id)
    # A replacement that read the metadata before an edit committed would lose the edit: refused.
    gw = stack.gateway
    early = editing.plan_replace(gw, "producer-a", track_id, {"cover_upload_id": stack.tus_upload(cover_bytes(1000))})
    _patch(stack, f"tracks/{track_id}", {"title": "Night Drive (Edited)"})
    with pytest.raises(SaveRejected) as refused, transaction(gw.factory) as s:
        editing.apply_replace(gw, s, early, "producer-a", 600)
    assert refused.value.status == 409 and refused.value.errors[0].code == "TRACK_EDITED"
    old = _submission(stack, track_id)
    assert _used_minutes(stack) == 0.2  # nothing of it kept

    cover = stack.tus_upload(cover_bytes(1200))
    r = _replace(stack, track_id, {"cover_upload_id": cover}, **{"Idempotency-Key": "replace-1"})
    assert r.status_code == 202, r.text
    new_id = r.json()["track_id"]
    assert r.json() == {
        "track_id": new_id,
        "status": "processing",
        "submission": 0,
        "links": {"self": f"/api/v1/tracks/{new_id}", "events": f"/api/v1/tracks/{new_id}/events"},
    }
    again = _replace(stack, track_id, {"cover_upload_id": cover}, **{"Idempotency-Key": "replace-1"})
    assert again.json() == r.json() and again.headers["Idempotent-Replayed"] == "true"
    new = _submission(stack, new_id)
    assert (new.audio_upload_id, new.cover_upload_id, new.fields) == (old.audio_upload_id, cover, old.fields)
    with stack.gateway.factory() as s:
        assert s.get(Upload, old.audio_upload_id).track_id == track_id  # held by both, claimed by the first
    submitted = _outbox(stack, "track.submitted")[-1]["data"]
    assert submitted["replaces_track_id"] == track_id and submitted["metadata"]["title"] == "Night Drive (Edited)"
    assert _used_minutes(stack) == 0.4  # both versions hold minutes while the new one is processing
    assert _get(stack, f"tracks/{new_id}")["title"] == "Night Drive (Edited)"
    # While it is in flight, the old version takes neither an edit (it would never reach the new
    # one) nor a second replacement (the track would fork into two live versions): a stranger's find.
    pending = [
        (
            "track",
            "NEW_VERSION_PENDING",
            "A new version of this track is still being checked. Until it is ready or refused, make changes "
            "on that version instead.",
        )
    ]
    assert _errors(_patch(stack, f"tracks/{track_id}", {"title": "Lost"}), 409) == pending
    assert _errors(_replace(stack, track_id, {"cover_upload_id": stack.tus_upload(cover_bytes(1100))}), 409) == pending

    _ready(stack, new_id)
    _wait(lambda: _view(stack, f"tracks/{track_id}")["status"] == "replaced")
    _wait(lambda: _used_minutes(stack) == 0.2)  # the replaced version gave its minutes back
    with stack.gateway.factory() as s:
        held = s.scalars(select(Reservation.track_id).where(Reservation.state == "held")).all()
        assert held == [new_id]
    gone = requests.delete(
        f"{stack.url}/api/v1/uploads/{old.audio_upload_id}",
        timeout=10,
        headers={**stack.headers(), "Tus-Resumable": "1.0.0"},
    )
    assert gone.status_code == 409 and gone.json()["errors"][0]["code"] == "UPLOAD_IN_USE"
    assert _errors(_patch(stack, f"tracks/{track_id}", {"title": "Old"}), 409) == [
        ("track", "NOT_EDITABLE", "This track was replaced by a newer version. Edit that version instead.")
    ]
    assert _errors(_replace(stack, track_id, {"cover_upload_id": stack.tus_upload(cover_bytes(1000))}), 409) == [
        ("track", "NOT_REPLACEABLE", "This track was replaced by a newer version. Replace that version instead.")
    ]

    # The new version's audio, kept from the first, can be replaced in its turn.
    newer = _replace(stack, new_id, {"audio_upload_id": stack.tus_upload(beat_wav(12, seed=5), filename="v3.wav")})
    assert newer.status_code == 202, newer.text
    assert _submission(stack, newer.json()["track_id"]).cover_upload_id == cover


def test_replace_refusals_and_a_retry_of_a_rejected_new_version(stack):
    track_id = _save(stack)
    processing = _replace(stack, track_id, {"cover_upload_id": stack.tus_upload(cover_bytes(1000))})
    assert _errors(processing, 409) == [
        (
            "track",
            "NOT_REPLACEABLE",
            "This track is still processing. Its audio or cover art can be replaced once it is ready.",
        )
    ]
    rejected = _save(stack, seed=3)
    _reject(stack, rejected)
    assert _errors(_replace(stack, rejected, {"cover_upload_id": "x"}), 409) == [
        ("track", "NOT_REPLACEABLE", "Only a ready track can be replaced. Retry this one with the new files instead.")
    ]
    _ready(stack, track_id)
    sub = _submission(stack, track_id)
    empty = ("REPLACE_EMPTY", "Choose a new audio file or new cover art to replace.")
    for body in (
        {},
        {"audio_upload_id": None, "cover_upload_id": " "},
        {"audio_upload_id": sub.audio_upload_id, "cover_upload_id": sub.cover_upload_id},
    ):
        assert _errors(_replace(stack, track_id, body)) == [(None, *empty)], body
    assert _errors(_replace(stack, track_id, {"title": "x"})) == [
        ("title", "FIELD_UNKNOWN", "This field cannot be changed here.")
    ]
    assert _errors(_replace(stack, track_id, {"audio_upload_id": 5})) == [
        ("audio", "AUDIO_UPLOAD_ID_INVALID", "The audio upload id must be text (the id of your upload).")
    ]
    taken = _submission(stack, rejected).audio_upload_id  # another track's audio
    assert _errors(_replace(stack, track_id, {"audio_upload_id": taken})) == [
        ("audio", "UPLOAD_ALREADY_SAVED", "This audio upload is already saved as a track.")
    ]
    foreign = stack.tus_upload(cover_bytes(1000), "producer-b")
    assert _errors(_replace(stack, track_id, {"cover_upload_id": foreign})) == [
        ("cover", "UPLOAD_NOT_FOUND", "The cover art upload was not found. Upload the file again.")
    ]
    not_image = stack.tus_upload(beat_wav(12, seed=9))
    assert _errors(_replace(stack, track_id, {"cover_upload_id": not_image})) == [
        (
            "cover",
            "COVER_NOT_JPEG_OR_PNG",
            "This file is WAV audio, not JPEG or PNG. BeatPass accepts JPEG or PNG cover art only.",
        )
    ]

    # A cover-only new version that validation rejects is retried with the audio it kept.
    r = _replace(stack, track_id, {"cover_upload_id": stack.tus_upload(cover_bytes(1000, color=(1, 2, 3)))})
    assert r.status_code == 202, r.text
    new_id = r.json()["track_id"]
    _reject(stack, new_id)
    _wait(lambda: _patch(stack, f"tracks/{track_id}", {"mood": "calm"}).status_code == 200)  # its minutes came back
    retry = requests.post(
        f"{stack.url}/api/v1/tracks/{new_id}/retry",
        headers=stack.headers(),
        timeout=30,
        json={"cover_upload_id": stack.tus_upload(cover_bytes(1300))},
    )
    assert retry.status_code == 202, retry.text
    assert _submission(stack, new_id).audio_upload_id == sub.audio_upload_id


# ---- collections ---------------------------------------------------------------------------


def _collection(stack, n: int = 3, producer: str = "producer-a") -> tuple[str, list[str]]:
    cover = stack.tus_upload(cover_bytes(1000), producer)
    tracks = [
        {**FIELDS, "title": f"Track {i}", "audio_upload_id": stack.tus_upload(beat_wav(12, seed=20 + i), producer)}
        for i in range(n)
    ]
    r = requests.post(
        f"{stack.url}/api/v1/collections",
        headers=stack.headers(producer),
        timeout=30,
        json={"title": "Tape", "cover_upload_id": cover, "tracks": tracks},
    )
    assert r.status_code == 202, r.text
    return r.json()["collection_id"], r.json()["track_ids"]


def test_a_collection_title_order_and_album_cover_change(stack):
    cid, (a, b, c) = _collection(stack)
    _wait(lambda: _view(stack, f"collections/{cid}"))
    stack.gateway.outbox.stop()
    r = _patch(
        stack,
        f"collections/{cid}",
        {"title": " Tape II ", "track_ids": [c, a, b.upper()]},
        **{"Idempotency-Key": "c-1"},
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["title"] == "Tape II" and [i["id"] for i in view["items"]] == [c, a, b]
    assert view["edits"] == {"title": 1, "order": 1}
    seen = _get(stack, f"collections/{cid}")  # before the catalog heard of it
    assert seen["title"] == "Tape II" and [i["id"] for i in seen["items"]] == [c, a, b]
    assert _view(stack, f"collections/{cid}")["title"] == "Tape"
    assert (
        _patch(
            stack, f"collections/{cid}", {"title": " Tape II ", "track_ids": [c, a, b]}, **{"Idempotency-Key": "c-1"}
        ).status_code
        == 422
    )  # another body under the key
    stack.gateway.outbox.relay_once()
    recorded = _wait(lambda: (v := _view(stack, f"collections/{cid}")) and v["edits"].get("order") == 1 and v)
    assert recorded["title"] == "Tape II" and [i["id"] for i in recorded["items"]] == [c, a, b]

    # A new album cover: checked by validation, shown once validated, under a link of its own.
    cover = stack.tus_upload(cover_bytes(1400))
    r = _patch(stack, f"collections/{cid}", {"cover_upload_id": cover})
    assert r.status_code == 200 and r.json()["cover_change"] == {"state": "checking", "errors": []}
    edited = _outbox(stack, "collection.edited")[-1]
    assert edited["attempt"] == 2 and edited["data"]["edit"] == 2 and edited["data"]["cover"]["key"].endswith(cover)
    stack.gateway.outbox.relay_once()
    _wait(lambda: _view(stack, f"collections/{cid}")["edits"].get("cover") == 2)
    _publish(
        stack,
        "collection.validated",
        {"cover": {"format": "JPEG", "width": 1400, "height": 1400}, "cover_images": {"large": REF, "thumb": REF}},
        collection_id=cid,
        attempt=2,
    )
    shown = _wait(lambda: (v := _get(stack, f"collections/{cid}")) and v["cover_change"] is None and v)
    assert shown["cover"]["large"].startswith(f"/api/v1/collections/{cid}/media/cover-large-r2.jpg?")
    gone = requests.delete(
        f"{stack.url}/api/v1/uploads/{cover}", timeout=10, headers={**stack.headers(), "Tus-Resumable": "1.0.0"}
    )
    assert gone.status_code == 409  # the album cover in force is in use
    _collection_edit_refusals(stack)


def _collection_edit_refusals(stack):
    cid, (a, b, c) = _collection(stack)
    # Edited before the catalog has heard of the collection at all (its relay loop is stopped).
    early, (x, y) = _collection(stack, 2)
    r = _patch(stack, f"collections/{early}", {"title": "Early", "track_ids": [y, x]})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["title"], [i["id"] for i in r.json()["items"]]) == (
        "processing",
        "Early",
        [y, x],
    )
    assert [i["status"] for i in r.json()["items"]] == ["processing", "processing"]
    stack.gateway.outbox.relay_once()
    recorded = _wait(lambda: (v := _view(stack, f"collections/{early}")) and v["edits"].get("order") == 1 and v)
    assert recorded["title"] == "Early" and [i["id"] for i in recorded["items"]] == [y, x]
    _wait(lambda: _view(stack, f"collections/{cid}"))
    other_cid, other_ids = _collection(stack, 1, "producer-b")
    url = f"collections/{cid}"
    invalid = ("track_ids", "TRACK_IDS_INVALID", "The new order must be a list of the collection's track ids.")
    repeated = ("track_ids", "TRACK_IDS_REPEATED", "Each track can appear only once in the new order.")
    unknown = ("track_ids", "TRACK_IDS_UNKNOWN", "The new order names a track that is not in this collection.")
    missing = ("track_ids", "TRACK_IDS_MISSING", "The new order must list every track of this collection.")
    for order, expected in (
        ("a,b", [invalid]),
        ([a, b, 3], [invalid]),
        (None, [invalid]),
        ([a, a, b], [repeated, missing]),
        ([a, b, c, other_ids[0]], [unknown]),
        ([a, b], [missing]),
        ([], [missing]),
        ([b, c, "nope"], [unknown, missing]),
    ):
        assert _errors(_patch(stack, url, {"track_ids": order})) == expected, order
    saved = requests.post(
        f"{stack.url}/api/v1/collections",
        headers=stack.headers(),
        timeout=30,
        json={"title": "", "cover_upload_id": 123, "tracks": []},
    )
    save_errors = {e["field"]: (e["field"], e["code"], e["message"]) for e in saved.json()["errors"]}
    assert _errors(_patch(stack, url, {"title": ""})) == [save_errors["title"]]
    assert _errors(_patch(stack, url, {"cover_upload_id": 123})) == [save_errors["cover"]]
    assert _errors(_patch(stack, url, {"title": 5, "cover_upload_id": None})) == [
        ("title", "COLLECTION_TITLE_NOT_TEXT", "Collection title must be text."),
        ("cover", "COLLECTION_COVER_REQUIRED", "Album cover art is required."),
    ]
    assert _errors(_patch(stack, url, {"title": "x" * 101})) == [
        ("title", "TITLE_TOO_LONG", "Title must be 100 characters or fewer.")
    ]
    foreign = stack.tus_upload(cover_bytes(1000), "producer-b")
    assert _errors(_patch(stack, url, {"cover_upload_id": foreign})) == [
        ("cover", "UPLOAD_NOT_FOUND", "The cover art upload was not found. Upload the file again.")
    ]
    assert _errors(_patch(stack, url, {"cover_upload_id": stack.tus_upload(beat_wav(12, seed=2))})) == [
        (
            "cover",
            "COVER_NOT_JPEG_OR_PNG",
            "This file is WAV audio, not JPEG or PNG. BeatPass accepts JPEG or PNG cover art only.",
        )
    ]
    assert _errors(_patch(stack, url, {"tracks": []})) == [
        ("tracks", "FIELD_UNKNOWN", "This field cannot be changed here.")
    ]
    assert _errors(_patch(stack, url, {})) == [(None, "EDIT_EMPTY", "Change at least one field.")]
    for path, producer in (
        (f"collections/{other_cid}", "producer-a"),
        (url, "producer-b"),
        (f"collections/{OTHER}", "producer-a"),
    ):
        assert _errors(_patch(stack, path, {"title": "Mine"}, producer), 404) == [
            ("collection", "COLLECTION_NOT_FOUND", "Collection not found.")
        ]
    unchanged = _patch(stack, url, {"track_ids": [a, b, c], "title": "Tape"})  # as it is: no edit
    assert unchanged.status_code == 200 and unchanged.json()["edits"] == {}
    assert [e for e in _outbox(stack, "collection.edited") if e["collection_id"] == cid] == []


# ---- a stranger's bodies -------------------------------------------------------------------

# The track's metadata fields (one list: TrackMetadata), the files, and what else an edit may meet.
NAMES = [*TrackMetadata.model_fields, "audio_upload_id", "cover_upload_id", "track_ids", "replaces_track_id"]
BODIES = st.dictionaries(
    st.sampled_from(NAMES) | st.text(max_size=8),
    JSON_VALUES | st.sampled_from(["A", "minor", "exclusive", 120, ["Kai"], "Tape"]),
    max_size=5,
)


def test_random_edit_and_replace_bodies_never_answer_5xx(stack):
    track_id = _save(stack)
    _ready(stack, track_id)
    cid, _ = _collection(stack, 2)
    session = requests.Session()
    session.headers.update(stack.headers())

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES, route=st.sampled_from(["track", "collection", "replace"]))
    def check(body, route):
        if route == "replace":
            r = session.post(f"{stack.url}/api/v1/tracks/{track_id}/replace", json=body, timeout=30)
        else:
            path = f"tracks/{track_id}" if route == "track" else f"collections/{cid}"
            r = session.patch(f"{stack.url}/api/v1/{path}", json=body, timeout=30)
        assert r.status_code < 500, r.text
        if r.status_code in (200, 202):
            return
        if has_nul(body):
            assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BODY_TEXT_INVALID", r.text
            return
        assert r.status_code == 422, r.text
        assert r.headers["Content-Type"] == "application/problem+json"
        errors = r.json()["errors"]
        assert errors and all(isinstance(e["code"], str) and e["message"] for e in errors)
        named = {"audio", "cover"} | set(body)
        assert all(e["field"] is None or e["field"] in named for e in errors), (body, errors)

    check()
    # Whatever was accepted, the gateway's view is the catalog's once it has caught up.
    sub = _submission(stack, track_id)
    caught_up = _wait(lambda: (v := _view(stack, f"tracks/{track_id}")) and v["edit"] == sub.edits and v)
    assert caught_up["metadata"] == _metadata(sub.fields)
