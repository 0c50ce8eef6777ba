"""The gateway SIGKILLed mid-save (an OS process on PostgreSQL, RabbitMQ and S3): the same save,
retried with the same Idempotency-Key once it is back, goes through at once and only once.

``SOAK_SAVES`` sets the size of the soak (``make soak-saves`` runs 80; the suite runs 8)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from beatpass_common.db import make_engine, session_factory
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload.models import IdempotencyKey, OutboxEvent, Reservation, Submission

pytestmark = pytest.mark.e2e

LEASE_S = 2.0
FIELDS = {"artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "non_exclusive"}


@pytest.fixture
def upload_db(platform_env):
    engine = make_engine(platform_env.env["BEATPASS_UPLOAD_DATABASE_URL"])
    yield session_factory(engine)
    engine.dispose()


def _small_wav(seed: int) -> bytes:
    return beat_wav(10.5, seed=seed, rate=44100, channels=1)  # the smallest the upload's inspection accepts


def _post(platform, body: dict, key: str, producer: str = "producer-e2e") -> requests.Response:
    return requests.post(
        f"{platform.url}/api/v1/tracks",
        json=body,
        timeout=60,
        headers={**platform.headers(producer), "Idempotency-Key": key},
    )


def _in_background(fn) -> threading.Thread:
    def run():
        with contextlib.suppress(requests.ConnectionError):  # the gateway was killed before answering
            fn()

    t = threading.Thread(target=run)
    t.start()
    return t


def _wait(predicate, limit_s: float = 30.0):
    deadline = time.monotonic() + limit_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def test_gateway_killed_mid_save_then_restarted_takes_the_same_save_at_once(platform_env, upload_db):
    platform_env.start("upload", BEATPASS_LEASE_S=str(LEASE_S))
    body = {
        **FIELDS,
        "title": "Killed",
        "audio_upload_id": platform_env.upload(_small_wav(61), "k.wav"),
        "cover_upload_id": platform_env.upload(cover_bytes(1000), "c.jpg"),
    }
    platform_env.stop("upload")  # back with a fault that stalls the save of this audio
    platform_env.start(
        "upload", BEATPASS_LEASE_S=str(LEASE_S), BEATPASS_TEST_FAULT=f"upload.save:stall:{body['audio_upload_id']}"
    )
    t = _in_background(lambda: _post(platform_env, body, "save-once"))
    with upload_db() as s:
        _wait(lambda: s.get(IdempotencyKey, ("producer-e2e", "save-once"), populate_existing=True))
    platform_env.stop("upload", signal.SIGKILL)
    t.join(10)

    platform_env.start("upload", BEATPASS_LEASE_S=str(LEASE_S))
    started = time.monotonic()
    r = _post(platform_env, body, "save-once")
    assert r.status_code == 202, r.text
    assert time.monotonic() - started < 2 * LEASE_S  # no ten-minute wait, no 409 to retry
    with upload_db() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 1
        assert s.scalar(select(func.count()).select_from(Reservation)) == 1
        submitted = _wait(
            lambda: s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.type == "track.submitted", OutboxEvent.published_at.is_not(None))
                .execution_options(populate_existing=True)
            ).all()
        )
    assert len(submitted) == 1 and json.loads(submitted[0].body)["track_id"] == r.json()["track_id"]


def test_saves_with_random_gateway_kills_end_with_one_track_per_key(platform_env, upload_db):
    """Rounds of four saves at once, the gateway SIGKILLed at a random moment of each round and
    restarted; every save is retried with its key until accepted."""
    total = int(os.environ.get("SOAK_SAVES", "8"))
    rng = random.Random(total)
    platform_env.start("upload", BEATPASS_LEASE_S=str(LEASE_S))
    producers = [f"producer-{i}" for i in range(4)]
    cover = {p: platform_env.upload(cover_bytes(1000), "c.jpg", producer=p) for p in producers}
    saves = []
    for i in range(total):
        producer = producers[i % len(producers)]
        saves.append(
            (
                producer,
                f"key-{i}",
                {
                    **FIELDS,
                    "title": f"Beat {i}",
                    "cover_upload_id": cover[producer],
                    "audio_upload_id": platform_env.upload(_small_wav(i), "b.wav", producer),
                },
            )
        )
    answers: dict[str, dict] = {}
    replayed = 0
    for start in range(0, total, 4):
        batch = saves[start : start + 4]
        threads = [_in_background(lambda p=p, k=k, b=b: _post(platform_env, b, k, p)) for p, k, b in batch]
        time.sleep(rng.uniform(0.0, 0.4))  # before, during or after the saves
        platform_env.stop("upload", signal.SIGKILL)
        for t in threads:
            t.join(10)
        platform_env.start("upload", BEATPASS_LEASE_S=str(LEASE_S))
        for producer, key, body in batch:
            r = _post(platform_env, body, key, producer)
            assert r.status_code == 202, r.text
            answers[key] = r.json()
            replayed += r.headers.get("Idempotent-Replayed") == "true"
    print(f"{total} saves: {replayed} committed before the kill (replayed), {total - replayed} saved on retry")

    with upload_db() as s:
        submissions = s.scalars(select(Submission)).all()
        assert Counter(sub.producer_id for sub in submissions) == Counter(p for p, _, _ in saves)
        assert {sub.track_id for sub in submissions} == {a["track_id"] for a in answers.values()}
        assert s.scalar(select(func.count()).select_from(Reservation)) == total
        assert (
            s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "track.submitted"))
            == total
        )
