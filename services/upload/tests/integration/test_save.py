"""Saving tracks and collections through the gateway on real PostgreSQL and S3."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload import idempotency
from beatpass_upload.models import IdempotencyKey, OutboxEvent, Reservation, Submission

pytestmark = pytest.mark.integration


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


@pytest.fixture
def uploads(stack):
    return {
        "audio": stack.tus_upload(beat_wav(12), filename="beat.wav"),
        "cover": stack.tus_upload(cover_bytes(1000), filename="cover.jpg"),
    }


def _count(stack, model, *where):
    with stack.gateway.factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_save_accepts_a_complete_track(stack, uploads):
    r = stack.save({**_fields(), "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "processing"
    assert _count(stack, OutboxEvent, OutboxEvent.type == "track.submitted") == 1
    me = requests.get(f"{stack.url}/api/v1/me", headers=stack.headers()).json()
    assert me["upload_minutes"] == {"limit": 600, "used": 0.2, "remaining": 599.8, "remaining_s": 35988.0}


def test_missing_fields_are_listed_one_by_one_with_exact_sentences(stack):
    r = stack.save({"bpm": 59.5, "key": "H", "genres": ["a", "b", "c", "d"]})
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"
    errors = {e["field"]: (e["code"], e["message"]) for e in r.json()["errors"]}
    assert errors == {
        "audio": ("AUDIO_REQUIRED", "Audio is required."),
        "cover": ("COVER_REQUIRED", "Cover art is required."),
        "title": ("TITLE_REQUIRED", "Title is required."),
        "artists": ("ARTISTS_REQUIRED", "Add at least one artist."),
        "bpm": ("BPM_INVALID", "BPM must be a whole number between 60 and 200."),
        "key": ("KEY_INVALID", "Key must be one of C, C#, D, D#, E, F, F#, G, G#, A, A#, B."),
        "scale": ("SCALE_REQUIRED", "Scale is required."),
        "licensing": ("LICENSING_REQUIRED", "Licensing is required."),
        "genres": ("GENRES_TOO_MANY", "Choose no more than 3 genres."),
    }
    assert _count(stack, OutboxEvent) == 0


def test_audio_must_look_like_wav_and_be_complete(stack, uploads):
    mp3ish = stack.tus_upload(b"ID3\x04" + b"\x00" * 5000, filename="beat.wav")
    r = stack.save({**_fields(), "audio_upload_id": mp3ish, "cover_upload_id": uploads["cover"]})
    assert [(e["code"], e["message"]) for e in r.json()["errors"]] == [
        ("AUDIO_NOT_WAV", "This file is MP3 audio, not WAV. BeatPass accepts WAV audio only.")
    ]  # validation's
    h = {"Tus-Resumable": "1.0.0", **stack.headers()}
    partial = requests.post(f"{stack.url}/api/v1/uploads", headers={**h, "Upload-Length": "1000"}).headers["Location"]
    r = stack.save({**_fields(), "audio_upload_id": partial.rsplit("/", 1)[1], "cover_upload_id": uploads["cover"]})
    assert r.json()["errors"][0]["code"] == "UPLOAD_INCOMPLETE"
    assert r.json()["errors"][0]["message"] == "The audio upload is not finished yet (0 of 1000 bytes received)."
    r = stack.save({**_fields(), "audio_upload_id": "nope", "cover_upload_id": uploads["cover"]})
    assert r.json()["errors"][0]["code"] == "UPLOAD_NOT_FOUND"


def test_one_upload_saves_one_track(stack, uploads):
    body = {**_fields(), "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]}
    assert stack.save(body).status_code == 202
    again = stack.save(body)
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "UPLOAD_ALREADY_SAVED"
    assert _count(stack, Submission) == 1


def test_idempotency_key_replays_refuses_changes_and_in_flight(stack, uploads):
    body = {**_fields(), "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]}
    first = stack.save(body, **{"Idempotency-Key": "save-1"})
    second = stack.save(body, **{"Idempotency-Key": "save-1"})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json() and second.headers["Idempotent-Replayed"] == "true"
    assert _count(stack, OutboxEvent, OutboxEvent.type == "track.submitted") == 1
    changed = stack.save({**body, "title": "Other"}, **{"Idempotency-Key": "save-1"})
    assert changed.status_code == 422 and changed.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # The same key of another producer is another key.
    other = stack.save(body, producer="producer-b", **{"Idempotency-Key": "save-1"})
    assert other.status_code == 422 and other.json()["errors"][0]["code"] == "UPLOAD_NOT_FOUND"


def test_a_key_in_flight_answers_409_while_its_holder_lives_and_is_taken_over_once_it_stops(stack, uploads):
    body = {**_fields(), "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]}
    route, factory, lease_s = "POST /api/v1/tracks", stack.gateway.factory, stack.settings.lease_s
    claim = idempotency.begin(factory, "producer-a", "k", route, idempotency.request_hash(route, body), lease_s)
    assert isinstance(claim, idempotency.Claim)
    with idempotency.held(factory, claim, lease_s):  # a holder that lives renews its lease
        started = time.monotonic()
        r = stack.save(body, **{"Idempotency-Key": "k"})
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "IDEMPOTENCY_IN_FLIGHT"
        assert time.monotonic() - started >= lease_s  # it waited the lease out before answering
    # The holder stops renewing without answering, as if it had died: the key is free within a lease.
    started = time.monotonic()
    r = stack.save(body, **{"Idempotency-Key": "k"})
    assert r.status_code == 202, r.text
    assert time.monotonic() - started < 3 * lease_s
    with pytest.raises(idempotency.KeyConflict), factory() as s, s.begin():
        idempotency.finish(s, claim, 202, {"track_id": "late"})  # the old holder cannot answer over it
    assert stack.save(body, **{"Idempotency-Key": "k"}).json() == r.json()
    assert _count(stack, OutboxEvent, OutboxEvent.type == "track.submitted") == 1


def test_concurrent_saves_never_overdraw_upload_minutes(stack):
    """Ten 12-second tracks against a one-minute limit, saved at once: exactly five fit."""
    audio = beat_wav(12)
    cover = stack.tus_upload(cover_bytes(1000))
    ids = [stack.tus_upload(audio) for _ in range(10)]
    headers = stack.headers(minutes=1)
    barrier = threading.Barrier(10)

    def save(upload_id):
        barrier.wait()
        return requests.post(
            f"{stack.url}/api/v1/tracks",
            headers=headers,
            json={**_fields(), "audio_upload_id": upload_id, "cover_upload_id": cover},
        )

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(save, ids))
    codes = sorted(r.status_code for r in results)
    assert codes == [202] * 5 + [422] * 5
    refused = next(r for r in results if r.status_code == 422).json()["errors"][0]
    assert refused["code"] == "UPLOAD_MINUTES_EXCEEDED"
    assert refused["message"].startswith("This track is 0:12 long, but you have 0:00 of upload minutes left.")
    me = requests.get(f"{stack.url}/api/v1/me", headers=headers).json()
    assert me["upload_minutes"]["used"] == 1.0 and me["upload_minutes"]["remaining"] == 0.0


def test_minutes_come_back_when_a_track_is_rejected(stack, uploads):
    from beatpass_common.events import new_event
    from beatpass_upload.handlers import handle_outcome

    r = stack.save({**_fields(), "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]})
    track_id = r.json()["track_id"]
    event = new_event(
        "track.rejected", {"errors": [{"code": "X", "message": "m"}]}, producer_id="producer-a", track_id=track_id
    )
    handle_outcome(event, factory=stack.gateway.factory)
    handle_outcome(event, factory=stack.gateway.factory)  # redelivered: released once
    me = requests.get(f"{stack.url}/api/v1/me", headers=stack.headers()).json()
    assert me["upload_minutes"]["used"] == 0.0


def test_collection_is_all_or_nothing(stack, uploads):
    second_audio = stack.tus_upload(beat_wav(12, seed=2))
    body = {
        "title": "Tape One",
        "cover_upload_id": uploads["cover"],
        "tracks": [
            {**_fields(), "audio_upload_id": uploads["audio"]},
            {**_fields(title="B-side", bpm=300), "audio_upload_id": second_audio},
        ],
    }
    r = requests.post(f"{stack.url}/api/v1/collections", json=body, headers=stack.headers())
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "tracks[1].bpm", "code": "BPM_INVALID", "message": "BPM must be a whole number between 60 and 200."}
    ]
    assert _count(stack, OutboxEvent) == 0 and _count(stack, Submission) == 0
    body["tracks"][1]["bpm"] = 90
    r = requests.post(f"{stack.url}/api/v1/collections", json=body, headers=stack.headers())
    assert r.status_code == 202 and len(r.json()["track_ids"]) == 2
    assert _count(stack, OutboxEvent, OutboxEvent.type == "track.submitted") == 2
    assert _count(stack, OutboxEvent, OutboxEvent.type == "collection.submitted") == 1


def _wait(predicate, limit_s: float = 30.0):
    deadline = time.monotonic() + limit_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def test_a_save_whose_gateway_is_killed_mid_save_goes_through_once_on_retry(stack, uploads, gateway_process):
    """A gateway process claims the key, stops inside the save and is SIGKILLed: the retry with
    the same key and body (on another gateway) is accepted within seconds, and saved once."""
    dying = gateway_process(stack.settings, test_fault=f"upload.save:stall:{uploads['audio']}")
    body = {**_fields(), "audio_upload_id": uploads["audio"], "cover_upload_id": uploads["cover"]}
    headers = {**stack.headers(), "Idempotency-Key": "killed-1"}

    def first_try():
        with contextlib.suppress(requests.ConnectionError):  # killed before answering
            requests.post(f"{dying.url}/api/v1/tracks", json=body, headers=headers, timeout=60)

    t = threading.Thread(target=first_try)
    t.start()
    with stack.gateway.factory() as s:
        _wait(lambda: s.get(IdempotencyKey, ("producer-a", "killed-1"), populate_existing=True))
    time.sleep(0.3)  # well into the save (it hangs before committing): any moment is a fair kill
    dying.kill()
    t.join(10)

    started = time.monotonic()
    r = stack.save(body, **headers)
    assert r.status_code == 202, r.text
    assert time.monotonic() - started < 3 * stack.settings.lease_s
    again = stack.save(body, **headers)
    assert again.json() == r.json() and again.headers["Idempotent-Replayed"] == "true"
    assert _count(stack, OutboxEvent, OutboxEvent.type == "track.submitted") == 1
    assert _count(stack, Submission) == 1 and _count(stack, Reservation) == 1
    me = requests.get(f"{stack.url}/api/v1/me", headers=stack.headers()).json()
    assert me["upload_minutes"]["used"] == 0.2  # 12 s reserved once


def test_track_list_query_is_checked(stack):
    h = stack.headers()
    for query in ("page=496565172174343897088", "page=0", "per_page=101", "status=lost"):
        r = requests.get(f"{stack.url}/api/v1/tracks?{query}", headers=h)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "QUERY_INVALID", query
    assert requests.get(f"{stack.url}/api/v1/tracks?page=2&per_page=5&status=ready", headers=h).status_code == 200
    for path in ("tracks?status=ready&status=rejected", "tracks?page=1&page=2", "collections?per_page=5&per_page=5"):
        r = requests.get(f"{stack.url}/api/v1/{path}", headers=h)
        assert r.status_code == 400 and r.json()["errors"][0]["message"].endswith(" must be given once."), path
