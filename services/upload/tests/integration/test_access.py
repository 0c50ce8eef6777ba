"""Who may do what: tokens, producer approval, and producers isolated from each other."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from beatpass_common.config import DEV_JWT_SECRET
from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(name="stack")
def _stack(module_stack):
    return module_stack  # every test here only reads or adds records of its own


TUS = {"Tus-Resumable": "1.0.0"}


def _signed(secret: str, **claims) -> str:
    return "Bearer " + jwt.encode(
        {"sub": "p", "producer_approved": True, "exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256"
    )


@pytest.mark.parametrize(
    "authorization, code",
    [
        (None, "AUTH_REQUIRED"),
        ("Basic abc", "TOKEN_INVALID"),
        ("Bearer not-a-jwt", "TOKEN_INVALID"),
        (lambda secret: _signed(secret, exp=int(time.time()) - 10), "TOKEN_EXPIRED"),
        (lambda secret: _signed("x" * 40), "TOKEN_INVALID"),
        # outside dev mode the built-in dev secret signs nothing this gateway accepts
        (lambda secret: _signed(DEV_JWT_SECRET), "TOKEN_INVALID"),
    ],
)
def test_bad_tokens_get_401_with_a_clear_message(stack, authorization, code):
    if callable(authorization):
        authorization = authorization(stack.settings.jwt_secret)
    headers = {"Authorization": authorization} if authorization else {}
    r = requests.get(f"{stack.url}/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == code
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_unapproved_producer_cannot_upload_or_save(stack):
    h = stack.headers("newbie", approved=False)
    r = requests.post(f"{stack.url}/api/v1/uploads", headers={**TUS, **h, "Upload-Length": "10"})
    assert r.status_code == 403
    assert r.json()["errors"] == [
        {
            "field": None,
            "code": "PRODUCER_ACCESS_REQUIRED",
            "message": "Upload access is only available to approved producers.",
        }
    ]
    assert requests.post(f"{stack.url}/api/v1/tracks", json={}, headers=h).status_code == 403
    assert requests.post(f"{stack.url}/api/v1/collections", json={}, headers=h).status_code == 403
    me = requests.get(f"{stack.url}/api/v1/me", headers=h).json()
    assert me["approved"] is False


def test_another_producers_ids_answer_exactly_like_unknown_ones(stack):
    audio = stack.tus_upload(beat_wav(11), producer="owner")
    cover = stack.tus_upload(cover_bytes(1000), producer="owner")
    saved = requests.post(
        f"{stack.url}/api/v1/tracks",
        headers=stack.headers("owner"),
        json={
            "title": "Mine",
            "artists": ["O"],
            "bpm": 100,
            "key": "C",
            "scale": "major",
            "licensing": "exclusive",
            "audio_upload_id": audio,
            "cover_upload_id": cover,
        },
    ).json()
    track = saved["track_id"]
    collection = requests.post(
        f"{stack.url}/api/v1/collections",
        headers=stack.headers("owner"),
        json={
            "title": "C",
            "cover_upload_id": cover,
            "tracks": [
                {
                    "title": "T",
                    "artists": ["O"],
                    "bpm": 100,
                    "key": "C",
                    "scale": "major",
                    "licensing": "exclusive",
                    "audio_upload_id": stack.tus_upload(beat_wav(11, seed=3), producer="owner"),
                }
            ],
        },
    ).json()["collection_id"]
    # The catalog has recorded both (the thief's reads below must meet real records, not the
    # gateway's submitted view of what the catalog has not seen yet).
    deadline = time.monotonic() + 30
    while not all(
        stack.gateway.catalog.get("owner", path)[0] == 200 for path in (f"tracks/{track}", f"collections/{collection}")
    ):
        assert time.monotonic() < deadline, "the catalog never recorded the owner's track and collection"
        time.sleep(0.05)
    thief = stack.headers("thief")

    def both(method, path, **kw):
        """(status for the owner's id, status for an unknown id), as the thief."""
        headers = {**thief, **kw.pop("headers", {})}
        real = requests.request(method, f"{stack.url}{path}", headers=headers, **kw)
        fake_path = path.replace(track, "0" * 36).replace(audio, "0" * 32).replace(collection, "1" * 36)
        fake = requests.request(method, f"{stack.url}{fake_path}", headers=headers, **kw)
        return real.status_code, fake.status_code

    tus_h = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    for method, path, kw in [
        ("HEAD", f"/api/v1/uploads/{audio}", {"headers": TUS}),
        ("PATCH", f"/api/v1/uploads/{audio}", {"headers": tus_h, "data": b"x"}),
        ("DELETE", f"/api/v1/uploads/{audio}", {"headers": TUS}),
        ("GET", f"/api/v1/tracks/{track}", {}),
        ("GET", f"/api/v1/tracks/{track}/events", {}),
        ("GET", f"/api/v1/tracks/{track}/media/waveform.json", {}),
        ("POST", f"/api/v1/tracks/{track}/dispute", {"json": {"reason": "mine!"}}),
        ("POST", f"/api/v1/tracks/{track}/retry", {"json": {}}),
        ("GET", f"/api/v1/collections/{collection}", {}),
        ("GET", f"/api/v1/collections/{collection}/events", {}),
        ("POST", f"/api/v1/collections/{collection}/tracks/{track}/retry", {"json": {}}),
    ]:
        real, fake = both(method, path, **kw)
        assert real == fake == 404, (method, path, real, fake)
    # Saving from another producer's uploads: the same answer as for an unknown upload.
    r = requests.post(
        f"{stack.url}/api/v1/tracks",
        headers=thief,
        json={
            "title": "Stolen",
            "artists": ["T"],
            "bpm": 100,
            "key": "C",
            "scale": "major",
            "licensing": "exclusive",
            "audio_upload_id": audio,
            "cover_upload_id": cover,
        },
    )
    assert {e["code"] for e in r.json()["errors"]} == {"UPLOAD_NOT_FOUND"}
    listed = requests.get(f"{stack.url}/api/v1/tracks", headers=thief).json()
    assert listed["items"] == [] and listed["total"] == 0
    owner_list = requests.get(f"{stack.url}/api/v1/tracks", headers=stack.headers("owner")).json()
    assert {t["id"] for t in owner_list["items"]} >= {track}
