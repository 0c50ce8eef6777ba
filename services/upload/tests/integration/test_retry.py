"""Retries through the gateway on real PostgreSQL, S3 and RabbitMQ, with the catalog in process:
one retry per retryable submission, however many arrive at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from beatpass_common.events import new_event
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload.models import Reservation, Submission, Upload

pytestmark = pytest.mark.integration

STILL_PROCESSING = "This track is still processing. It can be retried once it is rejected or failed."
FIELDS = {
    "title": "Night Drive",
    "artists": ["Kai"],
    "bpm": 120,
    "key": "A",
    "scale": "minor",
    "licensing": "non_exclusive",
}


def _wait(predicate, limit_s: float = 30.0):
    deadline = time.monotonic() + limit_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def _catalog_view(stack, track_id: str) -> dict | None:
    status, body = stack.gateway.catalog.get("producer-a", f"tracks/{track_id}")
    return body if status == 200 else None


def _reject(stack, track_id: str, attempt: int, collection_id: str | None = None) -> None:
    """Validation's verdict on ``attempt``, once the catalog has recorded that submission; returns
    when the catalog shows it rejected and the gateway has given its minutes back."""
    _wait(lambda: (v := _catalog_view(stack, track_id)) and v["submission"] == attempt)
    stack.runtimes[0].bus.publish(
        new_event(
            "track.rejected",
            {"errors": [{"code": "AUDIO_TOO_SHORT", "field": "audio", "message": "Too short."}], "step": "validation"},
            producer_id="producer-a",
            track_id=track_id,
            collection_id=collection_id,
            attempt=attempt,
        )
    )
    _wait(lambda: (v := _catalog_view(stack, track_id)) and v["status"] == "rejected" and v["submission"] == attempt)
    with stack.gateway.factory() as s:
        _wait(
            lambda: s.scalar(
                select(Reservation.state)
                .where(Reservation.track_id == track_id, Reservation.attempt == attempt)
                .execution_options(populate_existing=True)
            )
            == "released"
        )


def _used_minutes(stack) -> float:
    return requests.get(f"{stack.url}/api/v1/me", headers=stack.headers(), timeout=10).json()["upload_minutes"]["used"]


@pytest.fixture
def rejected(stack, request):
    """A rejected track (single, or the one item of a collection) and its retry URL."""
    audio, cover = stack.tus_upload(beat_wav(12), filename="beat.wav"), stack.tus_upload(cover_bytes(1000))
    if request.param == "track":
        r = stack.save({**FIELDS, "audio_upload_id": audio, "cover_upload_id": cover})
        assert r.status_code == 202, r.text
        track_id, collection_id = r.json()["track_id"], None
        url = f"{stack.url}/api/v1/tracks/{track_id}/retry"
    else:
        r = requests.post(
            f"{stack.url}/api/v1/collections",
            headers=stack.headers(),
            timeout=30,
            json={"title": "Tape One", "cover_upload_id": cover, "tracks": [{**FIELDS, "audio_upload_id": audio}]},
        )
        assert r.status_code == 202, r.text
        track_id, collection_id = r.json()["track_ids"][0], r.json()["collection_id"]
        url = f"{stack.url}/api/v1/collections/{collection_id}/tracks/{track_id}/retry"
    _reject(stack, track_id, 0, collection_id)
    return track_id, url


@pytest.mark.parametrize("rejected", ["track", "collection"], indirect=True)
def test_concurrent_retries_of_one_rejection_accept_exactly_one(stack, rejected):
    """Eight retries at once, each with a new audio upload: one 202, seven 409 NOT_RETRYABLE; no
    500, one reservation held, and the seven uploads are still free to save."""
    track_id, url = rejected
    audios = [stack.tus_upload(beat_wav(12, seed=10 + i), filename=f"fix{i}.wav") for i in range(8)]
    barrier = threading.Barrier(len(audios))

    def retry(i):
        barrier.wait()
        return requests.post(
            url,
            json={"audio_upload_id": audios[i]},
            timeout=60,
            headers={**stack.headers(), "Idempotency-Key": f"retry-{i}"},
        )

    with ThreadPoolExecutor(len(audios)) as pool:
        results = list(pool.map(retry, range(len(audios))))
    codes = sorted(r.status_code for r in results)
    assert codes == [202] + [409] * 7, [r.text for r in results]
    winner = next(i for i, r in enumerate(results) if r.status_code == 202)
    assert results[winner].json()["submission"] == 1
    for r in results:
        if r.status_code == 409:
            assert r.json()["errors"] == [{"field": "track", "code": "NOT_RETRYABLE", "message": STILL_PROCESSING}]

    with stack.gateway.factory() as s:
        reservations = s.scalars(
            select(Reservation).where(Reservation.track_id == track_id).order_by(Reservation.attempt)
        ).all()
        assert [(r.attempt, r.state) for r in reservations] == [(0, "released"), (1, "held")]
        submission = s.get(Submission, track_id)
        assert (submission.attempt, submission.audio_upload_id) == (1, audios[winner])
        losers = [a for i, a in enumerate(audios) if i != winner]
        assert s.scalars(select(Upload.track_id).where(Upload.id.in_(losers))).all() == [None] * 7
    assert _used_minutes(stack) == 0.2  # one 12-second submission held, the rejected one given back

    # The winner's key and body replay its answer; a loser's key runs again and is refused again.
    again = requests.post(
        url,
        json={"audio_upload_id": audios[winner]},
        timeout=30,
        headers={**stack.headers(), "Idempotency-Key": f"retry-{winner}"},
    )
    assert again.status_code == 202 and again.json() == results[winner].json()
    assert again.headers["Idempotent-Replayed"] == "true"
    loser = next(i for i in range(len(audios)) if i != winner)
    refused = requests.post(
        url,
        json={"audio_upload_id": audios[loser]},
        timeout=30,
        headers={**stack.headers(), "Idempotency-Key": f"retry-{loser}"},
    )
    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "NOT_RETRYABLE"
    # A loser's upload is not burned: it saves as a track of its own.
    r = stack.save({**FIELDS, "audio_upload_id": audios[loser], "cover_upload_id": stack.tus_upload(cover_bytes(1000))})
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("rejected", ["track"], indirect=True)
def test_a_second_retry_right_after_the_first_is_refused_until_that_submission_is_rejected(stack, rejected):
    track_id, url = rejected
    first = requests.post(url, json={"title": "Night Drive II"}, headers=stack.headers(), timeout=30)
    assert first.status_code == 202 and first.json()["submission"] == 1
    second = requests.post(url, json={"title": "Night Drive III"}, headers=stack.headers(), timeout=30)
    assert second.status_code == 409, second.text
    assert second.json()["errors"] == [{"field": "track", "code": "NOT_RETRYABLE", "message": STILL_PROCESSING}]
    # Once submission 1 is rejected in its turn, the next retry is submission 2.
    _reject(stack, track_id, 1)
    third = requests.post(url, json={"title": "Night Drive III"}, headers=stack.headers(), timeout=30)
    assert third.status_code == 202 and third.json()["submission"] == 2
    assert _used_minutes(stack) == 0.2


def test_retry_of_a_track_the_catalog_has_not_recorded_yet_is_still_processing(stack):
    stack.gateway.outbox.stop()  # track.submitted stays in the outbox: the catalog never hears of it
    r = stack.save(
        {
            **FIELDS,
            "audio_upload_id": stack.tus_upload(beat_wav(12)),
            "cover_upload_id": stack.tus_upload(cover_bytes(1000)),
        }
    )
    assert r.status_code == 202, r.text
    track_id = r.json()["track_id"]
    assert _catalog_view(stack, track_id) is None
    retry = requests.post(f"{stack.url}/api/v1/tracks/{track_id}/retry", json={}, headers=stack.headers(), timeout=30)
    assert retry.status_code == 409, retry.text
    assert retry.json()["errors"] == [{"field": "track", "code": "NOT_RETRYABLE", "message": STILL_PROCESSING}]
    # Another producer, or a collection it is not in, still cannot tell it exists.
    other = requests.post(
        f"{stack.url}/api/v1/tracks/{track_id}/retry", json={}, timeout=30, headers=stack.headers("producer-b")
    )
    assert other.status_code == 404 and other.json()["errors"][0]["code"] == "TRACK_NOT_FOUND"
    elsewhere = requests.post(
        f"{stack.url}/api/v1/collections/{track_id}/tracks/{track_id}/retry",
        json={},
        headers=stack.headers(),
        timeout=30,
    )
    assert elsewhere.status_code == 404 and elsewhere.json()["errors"][0]["code"] == "TRACK_NOT_FOUND"
