"""Track and collection lifecycle: order-independent, idempotent, nothing stuck in silence."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from beatpass_catalog.models import Collection, Track
from beatpass_catalog.reaper import reap
from beatpass_catalog.records import collection_status
from beatpass_catalog.views import track_view
from beatpass_common.events import new_event


def _track(deps, track_id) -> Track:
    with deps.factory() as s:
        track = s.get(Track, track_id)
        assert track.steps  # loaded before the session closes
        return track


def _types(published):
    return [e.type for e in published]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_ready_once_whatever_the_order(deps, apply, events, published, order):
    ev = events()
    journey = [ev.submitted(), ev.validated(), ev.waveform(), ev.fingerprint()]
    apply(*[journey[i] for i in order])
    apply(*journey)  # everything redelivered afterwards changes nothing
    track = _track(deps, ev.track_id)
    assert track.status == "ready" and track.title == "Night Drive"
    assert {s.name: s.state for s in track.steps} == {"validation": "done", "waveform": "done", "fingerprint": "done"}
    assert _types(published) == ["track.ready"]


def test_redelivered_submission_after_ready_is_ignored(deps, apply, events, published):
    ev = events()
    submitted = ev.submitted()
    apply(submitted, ev.validated(), ev.waveform(), ev.fingerprint())
    apply(submitted)
    assert _track(deps, ev.track_id).status == "ready" and _types(published) == ["track.ready"]


def test_validation_rejection_is_final_and_late_results_do_not_revive(deps, apply, events, published):
    ev = events()
    apply(ev.submitted(), ev.rejected(message="This file is 5.0 seconds long; tracks must be at least 10 seconds."))
    apply(ev.waveform())
    track = _track(deps, ev.track_id)
    assert track.status == "rejected"
    assert track.errors[0]["message"].startswith("This file is 5.0 seconds long")
    assert "track.ready" not in _types(published) and "track.removed" in _types(published)


def test_duplicate_of_own_track_names_it_and_others_stay_anonymous(deps, apply, events, published):
    original = events(producer="p1")
    apply(original.submitted(title="Night Drive"), original.validated(), original.waveform(), original.fingerprint())
    match = {"track_id": original.track_id, "score": 0.97, "offset_s": 0.0, "kind": "acoustic"}
    own = events(producer="p1")
    apply(own.submitted(title="Copy"), own.validated(), own.waveform(), own.fingerprint(duplicate=match))
    track = _track(deps, own.track_id)
    assert track.status == "rejected"
    assert track.errors == [
        {
            "code": "DUPLICATE_AUDIO",
            "field": "audio",
            "message": "This audio matches your track “Night Drive”. If this is a new version, "
            "replace the audio on that track instead.",
        }
    ]
    other = events(producer="p2")
    apply(other.submitted(), other.validated(), other.waveform(), other.fingerprint(duplicate=match))
    message = _track(deps, other.track_id).errors[0]["message"]
    assert "Night Drive" not in message and "p1" not in message
    assert _types(published).count("track.rejected") == 2


@pytest.mark.parametrize("decision,status", [("review", "in_review"), ("duplicate", "rejected")])
def test_a_shifted_match_names_the_producers_own_track_only(deps, apply, events, decision, status):
    original = events(producer="p1")
    apply(original.submitted(title="Night Drive"), original.validated(), original.waveform(), original.fingerprint())
    match = {
        "track_id": original.track_id,
        "score": 0.55,
        "offset_s": -1.2,
        "kind": "shifted",
        "decision": decision,
        "coverage": 0.97,
        "matched_coverage": 0.97,
        "pitch_semitones": -2.0,
        "tempo_ratio": 1.08,
    }
    other = events(producer="p2")
    apply(other.submitted(), other.validated(), other.waveform(), other.fingerprint(duplicate=match))
    theirs = _track(deps, other.track_id)
    assert theirs.status == status
    assert track_view(theirs)["duplicate"] == {
        "kind": "shifted",
        "score": 0.55,
        "offset_s": -1.2,
        "decision": decision,
        "own": False,
        "track_id": None,
        "title": None,
        "pitch_semitones": -2.0,
        "tempo_ratio": 1.08,
    }
    assert "Night Drive" not in str(theirs.errors)
    own = events(producer="p1")
    apply(own.submitted(title="Slowed"), own.validated(), own.waveform(), own.fingerprint(duplicate=match))
    mine = track_view(_track(deps, own.track_id))
    assert mine["status"] == status and mine["duplicate"]["own"] is True
    assert mine["duplicate"]["track_id"] == original.track_id and mine["duplicate"]["title"] == "Night Drive"
    assert mine["duplicate"]["pitch_semitones"] == -2.0 and mine["duplicate"]["tempo_ratio"] == 1.08


def test_review_decision_holds_the_track_in_review(deps, apply, events):
    ev = events()
    match = {"track_id": "x", "score": 0.6, "offset_s": 3.0, "kind": "acoustic", "decision": "review"}
    apply(ev.submitted(), ev.validated(), ev.waveform(), ev.fingerprint(duplicate=match))
    assert _track(deps, ev.track_id).status == "in_review"


def test_step_failed_marks_the_item_failed_with_an_actionable_message(deps, apply, events, published):
    ev = events()
    apply(ev.submitted(), ev.validated(), ev.step_failed("waveform", 3))
    track = _track(deps, ev.track_id)
    assert track.status == "failed"
    assert track.step("waveform").error == (
        "Processing failed at the waveform step after 3 attempts. Nothing was lost; retry this item."
    )
    assert "track.failed" in _types(published)


def test_resubmission_resets_and_stale_results_are_ignored(deps, apply, events, published):
    ev = events()
    apply(ev.submitted(), ev.rejected())
    retry = events(track_id=ev.track_id, attempt=1)
    apply(retry.submitted(title="Fixed"))
    track = _track(deps, ev.track_id)
    assert track.status == "processing" and track.errors == [] and track.title == "Fixed"
    apply(ev.rejected())  # a late copy from the first submission
    assert _track(deps, ev.track_id).status == "processing"
    apply(retry.validated(), retry.waveform(), retry.fingerprint())
    assert _track(deps, ev.track_id).status == "ready"


def _expired(deps, **limits):
    """Deadlines already past when set (-1 s), so a reaper pass needs no waiting."""
    deps.settings = deps.settings.model_copy(
        update={"step_deadline_s": -1.0, "step_queue_deadline_s": -1.0, "step_attempts": 3, **limits}
    )


def _step(deps, track_id, name):
    return _track(deps, track_id).step(name)


def test_steps_wait_queued_until_a_worker_starts_them(deps, apply, events):
    deps.settings = deps.settings.model_copy(update={"step_deadline_s": 600.0, "step_queue_deadline_s": 1800.0})
    ev = events()
    apply(ev.submitted())
    queued = _step(deps, ev.track_id, "validation")
    assert queued.state == "pending" and queued.started_at is None and queued.attempts == 1
    assert queued.deadline_at is not None  # the queue deadline
    apply(ev.started("validation"))
    running = _step(deps, ev.track_id, "validation")
    assert running.state == "running" and running.started_at is not None
    assert timedelta(seconds=590) < running.deadline_at - running.started_at <= timedelta(seconds=600)
    apply(ev.started("validation"))  # the worker restarted: the deadline starts again
    again = _step(deps, ev.track_id, "validation")
    assert again.state == "running" and again.started_at > running.started_at
    apply(ev.validated())
    steps = _track(deps, ev.track_id).steps
    assert {s.name: s.state for s in steps} == {"validation": "done", "waveform": "pending", "fingerprint": "pending"}
    assert all(s.started_at is None for s in steps if s.name != "validation")


def test_step_started_after_the_result_or_from_an_old_submission_changes_nothing(deps, apply, events):
    ev = events()
    apply(ev.submitted(), ev.validated(), ev.waveform(), ev.started("waveform"))
    assert _step(deps, ev.track_id, "waveform").state == "done"
    apply(ev.step_failed("fingerprint", 3), ev.started("fingerprint"))
    assert _step(deps, ev.track_id, "fingerprint").state == "failed"
    retry = events(track_id=ev.track_id, attempt=1)
    apply(retry.submitted())
    apply(ev.started("validation"))  # a late start from the first submission
    assert _step(deps, ev.track_id, "validation").state == "pending"


def test_a_start_that_arrives_after_the_result_fills_started_at_without_reopening(deps, apply, events, published):
    """Production: 87 of 187 finished waveform steps had no started_at (step.started came second)."""
    ev = events()
    apply(ev.submitted(), ev.validated())
    waveform_started, fingerprint_started = ev.started("waveform"), ev.started("fingerprint")
    apply(ev.waveform(), ev.fingerprint())
    assert _track(deps, ev.track_id).status == "ready"
    apply(waveform_started, fingerprint_started, ev.started("waveform"))  # a redelivered start changes nothing
    track = _track(deps, ev.track_id)
    assert track.status == "ready" and _types(published).count("track.ready") == 1
    for step, start in (("waveform", waveform_started), ("fingerprint", fingerprint_started)):
        s = track.step(step)
        assert s.state == "done" and s.deadline_at is None and s.started_at is not None
        started_at = s.started_at if s.started_at.tzinfo else s.started_at.replace(tzinfo=start.occurred_at.tzinfo)
        assert started_at == start.occurred_at
    assert track_view(track)["steps"]["waveform"]["started_at"] is not None


def test_step_started_before_its_submission_is_kept(deps, apply, events):
    ev = events()
    apply(ev.started("validation"), ev.submitted())
    assert _step(deps, ev.track_id, "validation").state == "running"
    apply(ev.validated(), ev.started("fingerprint"), ev.waveform(), ev.fingerprint())
    assert _track(deps, ev.track_id).status == "ready"


def test_reaper_redrives_a_stuck_running_step_a_bounded_number_of_times_then_fails_it(deps, apply, events, published):
    _expired(deps)
    ev = events()
    apply(ev.submitted(), ev.validated())
    published.clear()
    acted = []
    for _ in range(10):  # the worker keeps taking the message and never finishing
        apply(ev.started("waveform"))
        acted.append(reap(deps))
        deps.outbox.relay_once()
    assert acted[:3] == [1, 1, 1] and sum(acted) == 3  # it stopped
    assert _types(published) == ["track.validated", "track.validated", "track.failed"]
    track = _track(deps, ev.track_id)
    waveform = track.step("waveform")
    assert track.status == "failed" and waveform.state == "failed" and waveform.attempts == 3
    assert waveform.reason == "timeout"
    assert track.errors[0]["message"] == (
        "Processing stopped at the waveform step: this file took longer than we allow for one file. "
        "Nothing was lost; retry this item, and contact support if it happens again."
    )


@pytest.mark.parametrize("consumers", [0, None])
def test_a_queued_step_is_never_failed_while_its_queue_has_no_consumer(deps, apply, events, published, consumers):
    _expired(deps)
    deps.consumers = lambda queue: consumers
    ev = events()
    apply(ev.submitted())
    published.clear()
    for _ in range(5):
        assert reap(deps) == 0
    deps.outbox.relay_once()
    assert published == [] and _step(deps, ev.track_id, "validation").state == "pending"
    assert _track(deps, ev.track_id).status == "processing"


def test_a_queued_step_whose_queue_has_consumers_is_redriven_then_failed(deps, apply, events, published):
    _expired(deps)
    asked = []
    deps.consumers = lambda queue: asked.append(queue) or (1 if queue == "validation.tracks" else 0)
    ev = events()
    apply(ev.submitted())
    published.clear()
    acted = [reap(deps) for _ in range(6)]
    deps.outbox.relay_once()
    assert acted == [1, 1, 1, 0, 0, 0]
    assert _types(published) == ["track.submitted", "track.submitted", "track.failed"]
    assert "validation.tracks" in asked
    validation = _step(deps, ev.track_id, "validation")
    assert validation.reason == "not_started" and validation.attempts == 3
    assert validation.error.startswith("Processing did not start at the validation step")


def test_a_parked_step_is_never_redriven(deps, apply, events, published):
    _expired(deps)
    deps.consumers = lambda queue: 1
    ev = events()
    apply(
        ev.submitted(),
        ev.validated(),
        ev.started("waveform"),
        ev.step_failed("waveform", 1, reason="memory", parked=True),
    )
    published.clear()
    for _ in range(3):
        assert reap(deps) == 0
    deps.outbox.relay_once()
    waveform = _step(deps, ev.track_id, "waveform")
    assert waveform.state == "failed" and waveform.parked and waveform.reason == "memory"
    assert published == []


@pytest.mark.parametrize(
    "reason, sentence",
    [
        ("error", "Processing failed at the fingerprint step after 2 attempts. Nothing was lost; retry this item."),
        (
            "timeout",
            "Processing stopped at the fingerprint step: this file took longer than we allow for one file. "
            "Nothing was lost; retry this item, and contact support if it happens again.",
        ),
        (
            "memory",
            "Processing stopped at the fingerprint step: this file needed more memory than we allow for one "
            "file. Nothing was lost; retry this item, and contact support if it happens again.",
        ),
        (
            "worker_died",
            "Processing stopped at the fingerprint step: the worker handling this file stopped "
            "unexpectedly 2 times. Nothing was lost; retry this item, and contact support if it happens "
            "again.",
        ),
        (
            "unreadable",
            "Processing failed at the fingerprint step: we could not read a file that passed validation. "
            "This is our fault, not your file's; there is no need to change it. Retry this item, and "
            "contact support if it happens again.",
        ),
    ],
)
def test_step_failed_tells_the_producer_why_by_reason(deps, apply, events, published, reason, sentence):
    ev = events()
    apply(ev.submitted(), ev.validated(), ev.step_failed("fingerprint", 2, reason=reason, error="Traceback ..."))
    track = _track(deps, ev.track_id)
    assert track.status == "failed" and track.errors[0]["message"] == sentence
    step = track_view(track)["steps"]["fingerprint"]
    assert step == {**step, "state": "failed", "reason": reason, "error": sentence}
    assert "Traceback" not in str(track_view(track))  # the worker's error is for operators only


def test_collection_status_follows_its_items(deps, apply, events):
    cid = "c" * 36
    items = [events(collection_id=cid) for _ in range(3)]
    apply(
        new_event(
            "collection.submitted",
            {
                "title": "Tape",
                "cover": {"bucket": "b", "key": "k", "size": 1},
                "track_ids": [i.track_id for i in items],
            },
            producer_id="p1",
            collection_id=cid,
        )
    )
    for ev in items:
        apply(ev.submitted(), ev.validated(), ev.waveform())
    apply(items[0].fingerprint(), items[1].fingerprint())
    apply(items[2].rejected())

    def status():
        with deps.factory() as s:
            return s.scalars(select(Collection)).one().status

    assert status() == "partial"
    retry = events(track_id=items[2].track_id, collection_id=cid, attempt=1)
    apply(retry.submitted())
    assert status() == "processing"
    apply(retry.validated(), retry.waveform(), retry.fingerprint())
    assert status() == "ready"


@pytest.mark.parametrize(
    "statuses, status",
    [
        (["ready", "ready"], "ready"),
        (["ready", "processing"], "processing"),
        (["ready", "failed"], "partial"),
        (["rejected", "failed"], "rejected"),
        (["in_review", "ready"], "processing"),
    ],
)
def test_collection_status_rule(statuses, status):
    assert collection_status(statuses) == status


def test_album_art_results_land_on_the_collection(deps, apply, events):
    cid = "d" * 36
    item = events(collection_id=cid)
    submitted = new_event(
        "collection.submitted",
        {"title": "Tape", "cover": {"bucket": "b", "key": "k", "size": 1}, "track_ids": [item.track_id]},
        producer_id="p1",
        collection_id=cid,
    )
    validated = new_event(
        "collection.validated",
        {
            "cover": {"format": "PNG", "width": 1400, "height": 1400},
            "cover_images": {"large": {"bucket": "m", "key": "c", "size": 9}},
        },
        producer_id="p1",
        collection_id=cid,
    )
    from beatpass_catalog.handlers import CollectionNotYetKnown

    with pytest.raises(CollectionNotYetKnown):  # before the collection itself: the bus retries it
        apply(validated)
    apply(submitted, validated, item.submitted(), item.validated(), item.waveform(), item.fingerprint())
    with deps.factory() as s:
        collection = s.scalars(select(Collection)).one()
        assert collection.status == "ready" and collection.cover["images"]["large"]["key"] == "c"
    rejected = events(collection_id="e" * 36)
    apply(
        new_event(
            "collection.submitted",
            {"title": "Bad art", "cover": {"bucket": "b", "key": "k", "size": 1}, "track_ids": [rejected.track_id]},
            producer_id="p1",
            collection_id="e" * 36,
        ),
        new_event(
            "collection.rejected",
            {"errors": [{"code": "COVER_NOT_SQUARE", "field": "cover", "message": "Album art must be square."}]},
            producer_id="p1",
            collection_id="e" * 36,
        ),
    )
    with deps.factory() as s:
        bad = s.get(Collection, "e" * 36)
        assert bad.status == "rejected" and bad.errors[0]["code"] == "COVER_NOT_SQUARE"


def test_a_new_version_replaces_the_old_track_in_its_collection_only_when_ready(deps, apply, events, published):
    cid = "f" * 36
    old, other = events(collection_id=cid), events(collection_id=cid)
    apply(
        new_event(
            "collection.submitted",
            {
                "title": "Tape",
                "cover": {"bucket": "b", "key": "k", "size": 1},
                "track_ids": [old.track_id, other.track_id],
            },
            producer_id="p1",
            collection_id=cid,
        )
    )
    for ev in (old, other):
        apply(ev.submitted(), ev.validated(), ev.waveform(), ev.fingerprint())
    other_version = _track(deps, other.track_id).version
    new = events()
    apply(new.submitted(replaces=old.track_id, title="Night Drive v2"), new.validated(), new.waveform())
    assert _track(deps, old.track_id).status == "ready"  # not replaced until the new version is ready
    apply(new.fingerprint())
    old_track, new_track = _track(deps, old.track_id), _track(deps, new.track_id)
    assert old_track.status == "replaced" and old_track.replaced_by == new.track_id
    assert new_track.status == "ready" and new_track.collection_id == cid
    with deps.factory() as s:
        collection = s.get(Collection, cid)
        assert collection.track_ids == [new.track_id, other.track_id] and collection.status == "ready"
    assert _track(deps, other.track_id).version == other_version  # the rest untouched
    removed = [e for e in published if e.type == "track.removed"]
    assert [(e.track_id, e.payload().reason) for e in removed] == [(old.track_id, "replaced")]


def test_collection_stream_carries_its_items_changes(deps, apply, events):
    import json

    from beatpass_catalog.api import create_api
    from beatpass_catalog.streams import ChangeNotifier

    cid = "a" * 36
    item = events(collection_id=cid)
    apply(
        new_event(
            "collection.submitted",
            {"title": "Tape", "cover": {"bucket": "b", "key": "k", "size": 1}, "track_ids": [item.track_id]},
            producer_id="p1",
            collection_id=cid,
        ),
        item.submitted(),
        item.validated(),
        item.waveform(),
        item.fingerprint(),
    )
    client = create_api(deps, ChangeNotifier(), heartbeat_s=0.05, stream_max_s=0.3).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {deps.settings.internal_api_secret}"
    body = client.get(f"/internal/v1/producers/p1/collections/{cid}/events", headers={"Last-Event-ID": "0"}).get_data(
        as_text=True
    )
    data = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [d["status"] for d in data if "track_id" in d][-1] == "ready"
    assert data[-1] == {"collection_id": cid, "status": "ready", "version": data[-1]["version"]}
    assert client.get(f"/internal/v1/producers/p2/collections/{cid}/events").status_code == 404
