"""A hostile client (or a careless identity provider) cannot hurt the platform: producer ids that
would leave their folder, claims out of range, signed links tampered with, tokens in URLs."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from beatpass_common.keys import InvalidKey
from beatpass_common.testing import infra
from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(name="stack")
def _stack(module_stack):
    return module_stack  # every test here only reads or adds records of its own


TUS = {"Tus-Resumable": "1.0.0"}
HOSTILE_SUBS = ["../../beatpass-media/x", "a/../b", "../uploads/producer-b", "p\x00", "..", "a/b", "x" * 65]
PRODUCER_ID_INVALID = {
    "field": None,
    "code": "PRODUCER_ID_INVALID",
    "message": "Your access token names a producer id this platform cannot use. Contact BeatPass support.",
}


def _bearer(stack, **claims) -> dict:
    body = {"sub": "producer-a", "producer_approved": True, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": "Bearer " + jwt.encode(body, stack.settings.jwt_secret, algorithm="HS256")}


def _all_objects(store, settings) -> list[str]:
    if hasattr(store, "root"):
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    found = []
    for bucket in (settings.uploads_bucket, settings.media_bucket):
        try:
            found += [f"{bucket}/{o.object_name}" for o in store.client.list_objects(bucket, recursive=True)]
        except Exception as exc:  # noqa: BLE001 - a bucket nobody created holds nothing
            assert "NoSuchBucket" in str(exc), exc
    return found


@pytest.fixture(params=["local", "s3"])
def backend_stack(request, settings, stack_factory):
    """The gateway and catalog on the local object store (SQLite) or on S3 (moto)."""
    chosen = settings if request.param == "local" else request.getfixturevalue("s3_settings")
    return stack_factory(chosen)


def test_hostile_producer_ids_are_refused_and_write_nowhere(backend_stack):
    stack = backend_stack
    store = stack.gateway.store
    before = _all_objects(store, stack.settings)
    for sub in HOSTILE_SUBS:
        headers = _bearer(stack, sub=sub)
        r = requests.post(f"{stack.url}/api/v1/uploads", headers={**TUS, **headers, "Upload-Length": "4"}, timeout=10)
        assert r.status_code == 401 and r.json()["errors"] == [PRODUCER_ID_INVALID], (sub, r.text)
        assert requests.get(f"{stack.url}/api/v1/me", headers=headers, timeout=10).status_code == 401
        # Behind the gateway too: no key is built for such an id, whatever calls the uploads code.
        with pytest.raises(InvalidKey):
            stack.gateway.uploads.create(sub, 4, {})
    assert _all_objects(store, stack.settings) == before
    # An ordinary id still uploads, into its own folder.
    upload_id = stack.tus_upload(b"RIFF", producer="producer.b-1")
    assert any(o.endswith(f"producers/producer.b-1/uploads/{upload_id}") for o in _all_objects(store, stack.settings))


CLAIM_VALUES = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.lists(st.integers(), max_size=2)
)


def test_no_claim_value_gives_a_server_error(stack):
    @given(minutes=CLAIM_VALUES, approved=CLAIM_VALUES)
    @hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(minutes, approved):
        headers = _bearer(stack, upload_minutes_limit=minutes, producer_approved=approved)
        for r in (
            requests.get(f"{stack.url}/api/v1/me", headers=headers, timeout=10),
            requests.get(f"{stack.url}/api/v1/tracks", headers=headers, timeout=10),
            requests.post(f"{stack.url}/api/v1/tracks", json={}, headers=headers, timeout=10),
        ):
            assert r.status_code < 500, (minutes, approved, r.status_code, r.text)
            if r.status_code == 401:
                assert r.json()["errors"][0]["code"] == "TOKEN_CLAIM_INVALID"

    check()
    r = requests.get(f"{stack.url}/api/v1/me", headers=_bearer(stack, upload_minutes_limit=float("inf")), timeout=10)
    assert r.status_code == 401 and r.json()["errors"] == [
        {
            "field": None,
            "code": "TOKEN_CLAIM_INVALID",
            "message": "Your access token's upload_minutes_limit claim is not valid. Contact BeatPass support.",
        }
    ]


def _save(stack, producer="producer-a") -> str:
    audio = stack.tus_upload(beat_wav(11), producer=producer)
    cover = stack.tus_upload(cover_bytes(1000), producer=producer)
    r = requests.post(
        f"{stack.url}/api/v1/tracks",
        headers=stack.headers(producer),
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
        timeout=30,
    )
    assert r.status_code == 202, r.text
    return r.json()["track_id"]


def _wait_recorded(stack, track_id: str, producer="producer-a") -> None:
    deadline = time.monotonic() + 20
    while stack.gateway.catalog.get(producer, f"tracks/{track_id}")[0] != 200:
        assert time.monotonic() < deadline, "the catalog did not record the track"
        time.sleep(0.1)


def test_event_streams_open_with_a_ticket_never_with_a_token_in_the_url(stack):
    track = _save(stack)
    _wait_recorded(stack, track)
    events = f"{stack.url}/api/v1/tracks/{track}/events"
    # The old way is gone: a bearer token in the query string is ignored.
    r = requests.get(events, params={"access_token": stack.token("producer-a")}, timeout=10)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "AUTH_REQUIRED"
    assert requests.post(f"{events}/ticket", timeout=10).status_code == 401
    r = requests.post(f"{events}/ticket", headers=stack.headers(), timeout=10)
    assert r.status_code == 201
    url = r.json()["url"]
    assert url.startswith(f"/api/v1/tracks/{track}/events?") and "access_token" not in url
    assert int(parse_qs(urlsplit(url).query)["expires"][0]) <= time.time() + stack.settings.events_url_ttl_s
    with requests.get(stack.url + url, stream=True, timeout=10) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        first = next(stream.iter_lines(decode_unicode=True))
        assert first.startswith("id: ")
    # No ticket for another producer's id (as for an unknown one: a stranger's find), and a link
    # signed for another producer does not open this producer's stream; a ticket opens its own path only.
    for who, path in (
        ("producer-b", events),
        ("producer-a", f"{stack.url}/api/v1/tracks/{uuid.uuid4()}/events"),
        ("producer-a", f"{stack.url}/api/v1/collections/{uuid.uuid4()}/events"),
    ):
        r = requests.post(f"{path}/ticket", headers=stack.headers(who), timeout=10)
        code = "COLLECTION_NOT_FOUND" if "/collections/" in path else "TRACK_NOT_FOUND"
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == code, (who, path)
    from beatpass_upload import signing

    other = signing.sign(stack.settings, f"/api/v1/tracks/{track}/events", "producer-b", 60)
    assert requests.get(stack.url + other, timeout=10).status_code == 404
    query = urlsplit(url).query
    other_track = f"/api/v1/tracks/{'0' * 8}-0000-0000-0000-{'0' * 12}/events?{query}"
    r = requests.get(stack.url + other_track, timeout=10)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "LINK_INVALID"


def test_signed_media_links_are_checked(stack):
    from beatpass_upload import signing

    track = "1" * 8 + "-1111-1111-1111-" + "1" * 12
    path = f"/api/v1/tracks/{track}/media/waveform.png"
    good = signing.sign(stack.settings, path, "producer-a", 60)
    assert requests.get(stack.url + good, timeout=10).status_code == 404  # signature accepted: no such track
    r = requests.get(stack.url + path, params={"access_token": stack.token("producer-a")}, timeout=10)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "AUTH_REQUIRED"
    tampered = [
        good.replace("producer=producer-a", "producer=producer-b"),
        good[:-1] + ("0" if good[-1] != "0" else "1"),
        good.replace("waveform.png", "waveform.json"),
        good.replace("signature=", "signature=x"),
        f"{path}?producer=producer-a&expires=99999999999&signature=" + "é" * 64,
    ]
    for link in tampered:
        r = requests.get(stack.url + link, timeout=10)
        assert r.status_code == 401 and r.json()["errors"] == [
            {
                "field": None,
                "code": "LINK_INVALID",
                "message": "This link is not valid. Reload the page to get a new one.",
            }
        ], link
    expired = signing.sign(stack.settings, path, "producer-a", 1, now=time.time() - 10)
    r = requests.get(stack.url + expired, timeout=10)
    assert r.status_code == 401 and r.json()["errors"][0] == {
        "field": None,
        "code": "LINK_EXPIRED",
        "message": "This link has expired. Reload the page to get a new one.",
    }


def test_the_catalog_answers_only_the_gateway(stack):
    catalog = stack.settings.catalog_url
    path = f"{catalog}/internal/v1/producers/producer-a/tracks"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": stack.settings.internal_api_secret}):
        r = requests.get(path, headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "INTERNAL_AUTH_REQUIRED", headers
    ok = requests.get(path, headers={"Authorization": f"Bearer {stack.settings.internal_api_secret}"}, timeout=10)
    assert ok.status_code == 200
    assert requests.get(f"{catalog}/healthz", timeout=10).status_code == 200  # probes need no credential
    # Through the gateway, which sends it, reads work.
    assert requests.get(f"{stack.url}/api/v1/tracks", headers=stack.headers(), timeout=10).status_code == 200


@pytest.mark.parametrize(
    "module, message",
    [
        (
            "beatpass_upload",
            "beatpass-upload cannot start: BEATPASS_JWT_SECRET or BEATPASS_JWT_PUBLIC_KEY, "
            "BEATPASS_URL_SIGNING_SECRET, BEATPASS_INTERNAL_API_SECRET not set. Outside dev mode "
            "(BEATPASS_DEV_MODE) every key must be provisioned (docs/operations.md, Secrets).",
        ),
        (
            "beatpass_catalog",
            "beatpass-catalog cannot start: BEATPASS_INTERNAL_API_SECRET not set. Outside dev mode "
            "(BEATPASS_DEV_MODE) every key must be provisioned (docs/operations.md, Secrets).",
        ),
    ],
)
def test_services_refuse_to_start_without_their_keys(tmp_path, module, message):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("BEATPASS_")}
    env.update(BEATPASS_VAR_DIR=str(tmp_path / "var"), BEATPASS_HTTP_PORT="0")
    proc = subprocess.run(
        [sys.executable, "-m", module], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and proc.stderr.strip().endswith(message), proc.stderr
    # Dev mode (make run) keeps working without keys: the same command starts and gets ready.
    port = infra.free_port()
    env.update(BEATPASS_DEV_MODE="true", BEATPASS_HTTP_PORT=str(port))
    started = subprocess.Popen(
        [sys.executable, "-m", module], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert started.poll() is None, f"{module} exited with {started.returncode} in dev mode"
            assert time.monotonic() < deadline, f"{module} not ready in 60 s in dev mode"
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
    finally:
        started.kill()
        started.wait(10)


def test_a_gateway_with_the_wrong_catalog_credential_answers_503_not_401(stack):
    stack.gateway.catalog.http.headers["Authorization"] = "Bearer stale"
    r = requests.get(f"{stack.url}/api/v1/tracks", headers=stack.headers(), timeout=10)
    assert r.status_code == 503 and r.json()["errors"][0]["code"] == "CATALOG_UNAVAILABLE"
