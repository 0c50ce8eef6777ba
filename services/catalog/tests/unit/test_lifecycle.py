"""Track and collection lifecycle: order-independent, idempotent, nothing stuck in silence."""

from __future__ import annotations

import itertools
import time

import pytest
from sqlalchemy import select

from beatpass_catalog.models import Collection, Track
from beatpass_catalog.reaper import reap
from beatpass_catalog.records import collection_status
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
    assert track.errors == [{"code": "DUPLICATE_AUDIO", "field": "audio", "message":
                             "This audio matches your track “Night Drive”. If this is a new version, "
                             "replace the audio on that track instead."}]
    other = events(producer="p2")
    apply(other.submitted(), other.validated(), other.waveform(), other.fingerprint(duplicate=match))
    message = _track(deps, other.track_id).errors[0]["message"]
    assert "Night Drive" not in message and "p1" not in message
    assert _types(published).count("track.rejected") == 2


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
    assert track.step("waveform").error == ("Processing failed at the waveform step after 3 attempts. "
                                            "Nothing was lost; retry this item.")
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


def test_reaper_redrives_then_fails_overdue_steps(deps, apply, events, published):
    deps.settings = deps.settings.model_copy(update={"step_deadline_s": 0.05, "step_attempts": 3})
    ev = events()
    apply(ev.submitted())
    published.clear()
    for _ in range(2):
        time.sleep(0.08)
        assert reap(deps) == 1
        deps.outbox.relay_once()
    assert _types(published) == ["track.submitted", "track.submitted"]  # re-driven twice
    time.sleep(0.08)
    reap(deps)
    deps.outbox.relay_once()
    track = _track(deps, ev.track_id)
    assert track.status == "failed" and track.step("validation").attempts == 3
    assert track.errors[0]["message"] == ("Processing failed at the validation step after 3 attempts. "
                                          "Nothing was lost; retry this item.")
    assert _types(published)[-1] == "track.failed"


def test_collection_status_follows_its_items(deps, apply, events):
    cid = "c" * 36
    items = [events(collection_id=cid) for _ in range(3)]
    apply(new_event("collection.submitted", {"title": "Tape", "cover": {"bucket": "b", "key": "k", "size": 1},
                                             "track_ids": [i.track_id for i in items]},
                    producer_id="p1", collection_id=cid))
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


@pytest.mark.parametrize("statuses, status", [
    (["ready", "ready"], "ready"), (["ready", "processing"], "processing"), (["ready", "failed"], "partial"),
    (["rejected", "failed"], "rejected"), (["in_review", "ready"], "processing")])
def test_collection_status_rule(statuses, status):
    assert collection_status(statuses) == status


def test_album_art_results_land_on_the_collection(deps, apply, events):
    cid = "d" * 36
    item = events(collection_id=cid)
    submitted = new_event("collection.submitted", {"title": "Tape", "cover": {"bucket": "b", "key": "k", "size": 1},
                                                   "track_ids": [item.track_id]}, producer_id="p1", collection_id=cid)
    validated = new_event("collection.validated", {"cover": {"format": "PNG", "width": 1400, "height": 1400},
                                                   "cover_images": {"large": {"bucket": "m", "key": "c", "size": 9}}},
                          producer_id="p1", collection_id=cid)
    from beatpass_catalog.handlers import CollectionNotYetKnown

    with pytest.raises(CollectionNotYetKnown):  # before the collection itself: the bus retries it
        apply(validated)
    apply(submitted, validated, item.submitted(), item.validated(), item.waveform(), item.fingerprint())
    with deps.factory() as s:
        collection = s.scalars(select(Collection)).one()
        assert collection.status == "ready" and collection.cover["images"]["large"]["key"] == "c"
    rejected = events(collection_id="e" * 36)
    apply(new_event("collection.submitted", {"title": "Bad art", "cover": {"bucket": "b", "key": "k", "size": 1},
                                             "track_ids": [rejected.track_id]}, producer_id="p1",
                    collection_id="e" * 36),
          new_event("collection.rejected", {"errors": [{"code": "COVER_NOT_SQUARE", "field": "cover",
                                                        "message": "Album art must be square."}]},
                    producer_id="p1", collection_id="e" * 36))
    with deps.factory() as s:
        bad = s.get(Collection, "e" * 36)
        assert bad.status == "rejected" and bad.errors[0]["code"] == "COVER_NOT_SQUARE"


def test_a_new_version_replaces_the_old_track_in_its_collection_only_when_ready(deps, apply, events, published):
    cid = "f" * 36
    old, other = events(collection_id=cid), events(collection_id=cid)
    apply(new_event("collection.submitted", {"title": "Tape", "cover": {"bucket": "b", "key": "k", "size": 1},
                                             "track_ids": [old.track_id, other.track_id]},
                    producer_id="p1", collection_id=cid))
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

    from beatpass_catalog.api import ChangeNotifier, create_api

    cid = "a" * 36
    item = events(collection_id=cid)
    apply(new_event("collection.submitted", {"title": "Tape", "cover": {"bucket": "b", "key": "k", "size": 1},
                                             "track_ids": [item.track_id]}, producer_id="p1", collection_id=cid),
          item.submitted(), item.validated(), item.waveform(), item.fingerprint())
    client = create_api(deps, ChangeNotifier(), heartbeat_s=0.05, stream_max_s=0.3).test_client()
    body = client.get(f"/internal/v1/producers/p1/collections/{cid}/events", headers={"Last-Event-ID": "0"}).get_data(
        as_text=True)
    data = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [d["status"] for d in data if "track_id" in d][-1] == "ready"
    assert data[-1] == {"collection_id": cid, "status": "ready", "version": data[-1]["version"]}
    assert client.get(f"/internal/v1/producers/p2/collections/{cid}/events").status_code == 404
