"""The gateway's save use cases (saves.py, editing.py) on SQLite and local files: no broker, no S3,
no catalog (a dict answers for it: conftest.Catalog), no HTTP."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from beatpass_common.auth import Producer
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload import editing, idempotency, saves
from beatpass_upload.models import OutboxEvent, Reservation, Submission
from beatpass_upload.saving import SaveRejected

PRODUCER = Producer("producer-a", approved=True, upload_minutes_limit=600)


def _upload(gw, data: bytes, kind: str, producer: Producer = PRODUCER) -> str:
    upload = gw.uploads.create(producer.id, len(data), {"filename": f"x.{kind}", "kind": kind})
    return gw.uploads.append(producer.id, upload.id, 0, io.BytesIO(data), None).id


def _body(gw, producer: Producer = PRODUCER, seconds: float = 12.0, **fields) -> dict:
    return {
        "audio_upload_id": _upload(gw, beat_wav(seconds), "audio", producer),
        "cover_upload_id": _upload(gw, cover_bytes(), "cover", producer),
        "title": "Night Drive",
        "artists": ["Kai"],
        "bpm": 120,
        "key": "A",
        "scale": "minor",
        "licensing": "non_exclusive",
        **fields,
    }


def _commit(
    gw,
    use_case,
    producer: Producer = PRODUCER,
    key: str | None = None,
    body: dict | None = None,
    route: str = "POST /api/v1/tracks",
) -> saves.Outcome:
    return saves.commit(gw, producer, key, route, body or {}, use_case)


def _events(gw) -> list[tuple[str, dict]]:
    with gw.factory() as s:
        return [(e.type, json.loads(e.body)) for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]


def _codes(exc: pytest.ExceptionInfo) -> list[str]:
    return [e.code for e in exc.value.errors]


def test_a_save_stages_the_submission_the_minutes_and_its_event_at_once(gw):
    body = _body(gw)
    outcome = _commit(gw, lambda: saves.save_track(gw, PRODUCER, body))
    track_id = outcome.body["track_id"]
    assert (outcome.status, outcome.body["status"], outcome.replayed) == (202, "processing", False)
    with gw.factory() as s:
        sub = s.get(Submission, track_id)
        held = s.scalars(select(Reservation.seconds).where(Reservation.track_id == track_id)).all()
    assert (sub.producer_id, sub.attempt, sub.fields["title"]) == ("producer-a", 0, "Night Drive")
    assert held == [pytest.approx(12.0, abs=0.01)]
    [(kind, event)] = _events(gw)
    assert kind == "track.submitted" and event["track_id"] == track_id
    assert event["data"]["metadata"]["bpm"] == 120 and event["data"]["audio"]["key"]


def test_a_refused_save_stages_nothing_and_names_every_problem(gw):
    body = _body(gw, bpm=59, title=" ")
    with pytest.raises(SaveRejected) as refused:
        saves.save_track(gw, PRODUCER, body)
    assert set(_codes(refused)) == {"BPM_INVALID", "TITLE_REQUIRED"}
    assert _events(gw) == []


def test_a_save_beyond_the_producers_minutes_is_refused_whole(gw):
    producer = Producer("producer-a", approved=True, upload_minutes_limit=0)
    body = _body(gw)
    with pytest.raises(SaveRejected) as refused:
        _commit(gw, lambda: saves.save_track(gw, producer, body))
    assert _codes(refused) == ["UPLOAD_MINUTES_EXCEEDED"] and _events(gw) == []
    with gw.factory() as s:
        assert s.scalars(select(Submission)).all() == []


def test_one_key_saves_once_and_replays_the_first_answer(gw):
    body = _body(gw)
    first = _commit(gw, lambda: saves.save_track(gw, PRODUCER, body), key="k1", body=body)
    again = _commit(gw, lambda: pytest.fail("a replay runs nothing"), key="k1", body=body)
    assert (again.status, again.body, again.replayed) == (first.status, first.body, True)
    assert len(_events(gw)) == 1
    with pytest.raises(idempotency.KeyConflict) as reused:
        _commit(gw, lambda: saves.save_track(gw, PRODUCER, body), key="k1", body={**body, "bpm": 121})
    assert (reused.value.status, reused.value.code) == (422, "IDEMPOTENCY_KEY_REUSED")


def test_a_refusal_frees_the_key_for_the_fixed_request(gw):
    body = _body(gw, bpm=300)
    with pytest.raises(SaveRejected):
        _commit(gw, lambda: saves.save_track(gw, PRODUCER, body), key="k2", body=body)
    fixed = {**body, "bpm": 130}
    assert not _commit(gw, lambda: saves.save_track(gw, PRODUCER, fixed), key="k2", body=fixed).replayed


def test_a_retry_is_accepted_once_and_only_for_a_rejected_submission(gw):
    track_id = _commit(gw, lambda: saves.save_track(gw, PRODUCER, _body(gw))).body["track_id"]
    with pytest.raises(SaveRejected) as early:  # the catalog has not recorded it: still processing
        saves.retry_track(gw, PRODUCER, {}, track_id)
    assert (early.value.status, _codes(early)) == (409, ["NOT_RETRYABLE"])
    gw.catalog.record("producer-a", track_id, status="rejected", submission=0)
    first, second = saves.retry_track(gw, PRODUCER, {}, track_id), saves.retry_track(gw, PRODUCER, {}, track_id)
    assert _commit(gw, lambda: first).body["submission"] == 1
    with pytest.raises(SaveRejected) as late:  # checked against submission 0 too, but 0 moved on
        _commit(gw, lambda: second)
    assert (late.value.status, _codes(late)) == (409, ["NOT_RETRYABLE"])
    assert [kind for kind, _ in _events(gw)] == ["track.submitted", "track.submitted"]


def test_another_producers_track_is_not_found(gw):
    track_id = _commit(gw, lambda: saves.save_track(gw, PRODUCER, _body(gw))).body["track_id"]
    gw.catalog.record("producer-a", track_id, status="ready", submission=0)
    other = Producer("producer-b", approved=True, upload_minutes_limit=600)
    for use_case in (
        lambda: saves.retry_track(gw, other, {}, track_id),
        lambda: editing.edit_track(gw, other, track_id, {"title": "Mine now"}),
        lambda: editing.replace_track(gw, other, track_id, {"cover_upload_id": "x"}),
    ):
        with pytest.raises(SaveRejected) as refused:
            use_case()
        assert (refused.value.status, _codes(refused)) == (404, ["TRACK_NOT_FOUND"])
    body = _body(gw, other, replaces_track_id=track_id)
    with pytest.raises(SaveRejected) as refused:
        saves.save_track(gw, other, body)
    assert _codes(refused) == ["REPLACED_TRACK_NOT_FOUND"]


def test_an_edit_is_numbered_and_staged_with_its_event(gw):
    track_id = _commit(gw, lambda: saves.save_track(gw, PRODUCER, _body(gw))).body["track_id"]
    view = _commit(gw, lambda: editing.edit_track(gw, PRODUCER, track_id, {"title": "Night Drive II"})).body
    assert view["title"] == "Night Drive II"
    kind, event = _events(gw)[-1]
    assert kind == "track.edited" and event["data"]["edit"] == 1 and event["data"]["fields"] == ["title"]


def test_a_collection_is_saved_whole_or_not_at_all(gw):
    cover = _upload(gw, cover_bytes(), "cover")
    good = {k: v for k, v in _body(gw).items() if k != "cover_upload_id"}
    bad = {**{k: v for k, v in _body(gw).items() if k != "cover_upload_id"}, "bpm": 201}
    body = {"title": "Dawn Tape", "cover_upload_id": cover, "tracks": [good, bad]}
    with pytest.raises(SaveRejected) as refused:
        saves.save_collection(gw, PRODUCER, body)
    assert [(e.field, e.code) for e in refused.value.errors] == [("tracks[1].bpm", "BPM_INVALID")]
    assert _events(gw) == []
    body["tracks"] = [good, {**bad, "bpm": 140}]
    saved = _commit(gw, lambda: saves.save_collection(gw, PRODUCER, body), route="POST /api/v1/collections").body
    assert len(saved["track_ids"]) == 2
    assert [kind for kind, _ in _events(gw)] == ["track.submitted", "track.submitted", "collection.submitted"]


def test_the_rules_route_serves_the_rules_the_checks_use(gw):
    from beatpass_upload.fields import NAME_MAX, messages
    from beatpass_upload.service import create_app

    rules = create_app(gw).test_client().get("/api/v1/rules").get_json()
    assert rules["messages"] == messages(gw.settings) and rules["text_max"]["artist"] == NAME_MAX
    assert rules["bpm"] == {"min": gw.settings.bpm_min, "max": gw.settings.bpm_max}
    assert rules["cover_max_bytes"] == gw.settings.cover_max_bytes
