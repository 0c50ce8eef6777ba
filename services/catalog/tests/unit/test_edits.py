"""Producer edits in the catalog: track.edited and collection.edited applied once, the newest edit
winning whatever the arrival order, shown on the streams; the BPM warning follows the edited BPM."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from beatpass_catalog.api import create_api
from beatpass_catalog.handlers import CollectionNotYetKnown
from beatpass_catalog.models import Change, Collection, Track
from beatpass_catalog.streams import ChangeNotifier
from beatpass_catalog.views import collection_view, track_view
from beatpass_common.events import new_event
from beatpass_common.order import reordered

META = {"title": "Night Drive", "artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "exclusive"}
REF = {"bucket": "b", "key": "k", "size": 10}


def _edited(ev, edit: int, fields=("title",), **meta):
    return new_event(
        "track.edited",
        {"edit": edit, "metadata": {**META, **meta}, "fields": list(fields)},
        producer_id=ev.producer,
        track_id=ev.track_id,
        collection_id=ev.collection_id,
        attempt=ev.attempt,
    )


def _track(deps, track_id) -> dict:
    with deps.factory() as s:
        return track_view(s.get(Track, track_id))


def _changes(deps, subject_id) -> list[dict]:
    with deps.factory() as s:
        return [c.body for c in s.scalars(select(Change).where(Change.subject_id == subject_id).order_by(Change.seq))]


def test_an_edit_changes_the_metadata_once_and_shows_on_the_stream(deps, apply, events):
    ev = events()
    apply(ev.submitted(), ev.validated(), ev.waveform(), ev.fingerprint())
    before = _track(deps, ev.track_id)
    edit = _edited(ev, 1, ("title", "mood"), title="Night Drive (Remaster)", mood="dark")
    apply(edit, edit)  # redelivered: applied once
    after = _track(deps, ev.track_id)
    assert after["title"] == "Night Drive (Remaster)" and after["metadata"]["mood"] == "dark"
    assert after["edit"] == 1 and after["status"] == "ready" and after["version"] == before["version"] + 1
    edits = [c for c in _changes(deps, ev.track_id) if c.get("edited")]
    assert edits == [
        {
            "track_id": ev.track_id,
            "status": "ready",
            "version": after["version"],
            "edit": 1,
            "steps": {"validation": "done", "waveform": "done", "fingerprint": "done"},
            "collection_id": None,
            "edited": ["title", "mood"],
        }
    ]


@pytest.mark.parametrize("order", [(1, 2, 3), (3, 2, 1), (2, 3, 1), (3, 1, 2)])
def test_the_newest_edit_wins_whatever_the_arrival_order(deps, apply, events, order):
    ev = events()
    apply(ev.submitted())
    by_number = {n: _edited(ev, n, title=f"Take {n}", bpm=100 + n) for n in (1, 2, 3)}
    apply(*[by_number[n] for n in order])
    track = _track(deps, ev.track_id)
    assert (track["title"], track["metadata"]["bpm"], track["edit"]) == ("Take 3", 103, 3)
    # Only edits newer than the one in force made a change on the stream.
    applied = [c["edit"] for c in _changes(deps, ev.track_id) if c.get("edited")]
    assert applied == sorted(applied) and applied[-1] == 3


def test_an_edit_before_its_submission_is_kept_and_a_submission_never_undoes_a_newer_edit(deps, apply, events):
    ev = events()
    apply(_edited(ev, 2, title="Edited early"))  # the catalog has not seen the save yet: a placeholder
    apply(ev.submitted(title="As saved"))  # the save's metadata (edit 0) is older
    assert _track(deps, ev.track_id)["title"] == "Edited early"
    apply(ev.rejected())
    # A retry carries the gateway's metadata with the last edit it includes: the newer one wins.
    retry = events(track_id=ev.track_id, attempt=1)
    stale_retry = retry.submitted(title="Older")
    stale_retry = stale_retry.model_copy(update={"data": {**stale_retry.data, "edit": 1}})
    apply(stale_retry)
    track = _track(deps, ev.track_id)
    assert (track["title"], track["status"], track["submission"]) == ("Edited early", "processing", 1)
    retry2 = events(track_id=ev.track_id, attempt=2)
    apply(retry.rejected())
    fresh = retry2.submitted(title="Retried with edit 3")
    apply(fresh.model_copy(update={"data": {**fresh.data, "edit": 3}}))
    assert (_track(deps, ev.track_id)["title"], _track(deps, ev.track_id)["edit"]) == ("Retried with edit 3", 3)
    apply(_edited(ev, 3, title="Same number, late"))  # edit 3 is already in force
    assert _track(deps, ev.track_id)["title"] == "Retried with edit 3"


def _measured(ev, estimated_bpm: float, confidence: float = 0.9, warnings=()):
    facts = {
        "format": "WAV",
        "sample_rate": 44100,
        "bit_depth": 16,
        "channels": 2,
        "duration_s": 12.0,
        "estimated_bpm": estimated_bpm,
        "bpm_confidence": confidence,
    }
    return new_event(
        "track.validated",
        {
            "source": REF,
            "audio": facts,
            "cover": {"format": "JPEG", "width": 1000, "height": 1000},
            "warnings": list(warnings),
        },
        producer_id=ev.producer,
        track_id=ev.track_id,
        attempt=ev.attempt,
    )


def _bpm_warnings(deps, track_id) -> list[str]:
    return [w["message"] for w in _track(deps, track_id)["warnings"] if w["code"] == "BPM_MISMATCH"]


def test_the_bpm_warning_follows_the_edited_bpm(deps, apply, events):
    ev = events()
    warned = {
        "code": "BPM_MISMATCH",
        "field": "bpm",
        "message": "You entered 90 BPM, but the audio sounds like about 140 BPM. Check the BPM before publishing.",
    }
    skipped = {"code": "ESTIMATE_SKIPPED", "field": "bpm", "message": "kept as is"}
    apply(ev.submitted(bpm=90), _measured(ev, 140.2, warnings=[skipped, warned]))
    assert _bpm_warnings(deps, ev.track_id) == [warned["message"]]
    apply(_edited(ev, 1, ("bpm",), bpm=140))
    assert _bpm_warnings(deps, ev.track_id) == []
    assert [w["code"] for w in _track(deps, ev.track_id)["warnings"]] == ["ESTIMATE_SKIPPED"]  # others stay
    apply(_edited(ev, 2, ("bpm",), bpm=100))
    assert _bpm_warnings(deps, ev.track_id) == [
        "You entered 100 BPM, but the audio sounds like about 140 BPM. Check the BPM before publishing."
    ]
    apply(_edited(ev, 3, ("bpm",), bpm=70))  # half time agrees
    assert _bpm_warnings(deps, ev.track_id) == []


def test_a_bpm_edited_while_validation_measured_the_old_one_is_judged_as_edited(deps, apply, events):
    ev = events()
    apply(ev.submitted(bpm=90), _edited(ev, 1, ("bpm",), bpm=140))
    stale = {"code": "BPM_MISMATCH", "field": "bpm", "message": "You entered 90 BPM, ..."}
    apply(_measured(ev, 140.0, warnings=[stale]))  # validation judged the BPM of the save
    assert _bpm_warnings(deps, ev.track_id) == []
    weak = events()
    apply(weak.submitted(bpm=90), _edited(weak, 1, ("bpm",), bpm=100), _measured(weak, 140.0, confidence=0.1))
    assert _bpm_warnings(deps, weak.track_id) == []  # too weak an estimate to second-guess the producer


# ---- collections ---------------------------------------------------------------------------


def _collection_events(cid, items):
    submitted = new_event(
        "collection.submitted", {"title": "Tape", "cover": REF, "track_ids": items}, producer_id="p1", collection_id=cid
    )

    def edited(edit, **data):
        return new_event("collection.edited", {"edit": edit, **data}, producer_id="p1", collection_id=cid, attempt=edit)

    def verdict(attempt, ok=True, key="c"):
        if ok:
            return new_event(
                "collection.validated",
                {
                    "cover": {"format": "PNG", "width": 1400, "height": 1400},
                    "cover_images": {"large": {"bucket": "m", "key": key, "size": 9}},
                },
                producer_id="p1",
                collection_id=cid,
                attempt=attempt,
            )
        return new_event(
            "collection.rejected",
            {"errors": [{"code": "COVER_NOT_SQUARE", "field": "cover", "message": "Album art must be square."}]},
            producer_id="p1",
            collection_id=cid,
            attempt=attempt,
        )

    return submitted, edited, verdict


def _collection(deps, cid) -> dict:
    with deps.factory() as s:
        c = s.get(Collection, cid)
        return collection_view(c, s.scalars(select(Track).where(Track.id.in_(c.track_ids))).all())


@pytest.fixture
def tape(deps, apply, events):
    """A ready collection of three tracks with its album art in force."""
    cid = str(uuid.uuid4())
    items = [events(collection_id=cid) for _ in range(3)]
    submitted, edited, verdict = _collection_events(cid, [i.track_id for i in items])
    apply(submitted, verdict(0, key="c0"))
    for ev in items:
        apply(ev.submitted(), ev.validated(), ev.waveform(), ev.fingerprint())
    return cid, [i.track_id for i in items], edited, verdict


def test_title_and_order_edits_apply_once_and_newest_first(deps, apply, tape):
    cid, (a, b, c), edited, _ = tape
    with pytest.raises(CollectionNotYetKnown):  # an edit before its collection: the bus retries it
        apply(
            new_event(
                "collection.edited",
                {"edit": 1, "title": "x"},
                producer_id="p1",
                collection_id=str(uuid.uuid4()),
                attempt=1,
            )
        )
    apply(edited(2, title="Tape II", track_ids=[c, a, b]), edited(1, title="Tape I", track_ids=[b, a, c]))
    view = _collection(deps, cid)
    assert view["title"] == "Tape II" and [i["id"] for i in view["items"]] == [c, a, b]
    assert view["edits"] == {"cover": 0, "title": 2, "order": 2} and view["status"] == "ready"
    apply(edited(3, track_ids=[a, b, c]))  # a newer order, the title untouched
    view = _collection(deps, cid)
    assert view["title"] == "Tape II" and [i["id"] for i in view["items"]] == [a, b, c]
    edits = [ch for ch in _changes(deps, cid) if ch.get("edited")]
    assert [ch["edited"] for ch in edits] == [["title", "track_ids"], ["track_ids"]]


def test_a_new_album_cover_is_shown_once_validated_and_late_verdicts_are_ignored(deps, apply, tape):
    cid, _, edited, verdict = tape
    first = _collection(deps, cid)["cover"]
    assert first == {"large": f"/api/v1/collections/{cid}/media/cover-large.jpg"}
    apply(edited(1, cover={**REF, "key": "new1"}), edited(2, cover={**REF, "key": "new2"}))
    view = _collection(deps, cid)
    assert view["cover"] == first and view["cover_change"] == {"state": "checking", "errors": []}
    apply(verdict(2, key="c2"), verdict(1, key="c1"))  # the verdict on the older cover comes last
    view = _collection(deps, cid)
    assert view["cover"] == {"large": f"/api/v1/collections/{cid}/media/cover-large-r2.jpg"}
    assert view["cover_change"] is None and view["status"] == "ready"
    with deps.factory() as s:
        from beatpass_catalog.views import collection_media_refs

        refs = collection_media_refs(s.get(Collection, cid))
        assert list(refs) == ["cover-large-r2.jpg"] and refs["cover-large-r2.jpg"]["key"] == "c2"
    # A refused cover leaves the one in force and says why.
    apply(edited(3, cover={**REF, "key": "bad"}), verdict(3, ok=False))
    view = _collection(deps, cid)
    assert view["cover"]["large"].endswith("cover-large-r2.jpg") and view["status"] == "ready"
    assert view["cover_change"] == {
        "state": "rejected",
        "errors": [{"code": "COVER_NOT_SQUARE", "field": "cover", "message": "Album art must be square."}],
    }
    assert view["errors"] == []


def test_a_verdict_before_its_edit_is_kept(deps, apply, tape):
    cid, _, edited, verdict = tape
    apply(verdict(4, key="c4"), edited(4, cover={**REF, "key": "n4"}))
    view = _collection(deps, cid)
    assert view["cover"]["large"].endswith("cover-large-r4.jpg") and view["cover_change"] is None


def test_a_collection_rejected_for_its_album_art_is_fixed_by_a_new_cover(deps, apply, events):
    cid = str(uuid.uuid4())
    item = events(collection_id=cid)
    submitted, edited, verdict = _collection_events(cid, [item.track_id])
    apply(submitted, verdict(0, ok=False), item.submitted(), item.validated(), item.waveform(), item.fingerprint())
    assert _collection(deps, cid)["status"] == "rejected"
    apply(edited(1, cover={**REF, "key": "bad2"}), verdict(1, ok=False))
    view = _collection(deps, cid)
    assert view["status"] == "rejected" and view["errors"][0]["code"] == "COVER_NOT_SQUARE"
    apply(edited(2, cover={**REF, "key": "good"}), verdict(2))
    view = _collection(deps, cid)
    assert view["status"] == "ready" and view["errors"] == [] and view["cover_change"] is None


def test_an_order_asked_before_a_new_version_took_its_place(deps, apply, events, tape):
    cid, (a, b, c), edited, _ = tape
    new = events()
    apply(new.submitted(replaces=b), new.validated(), new.waveform(), new.fingerprint())  # b -> new
    assert [i["id"] for i in _collection(deps, cid)["items"]] == [a, new.track_id, c]
    apply(edited(1, track_ids=[b, c, a]))  # asked with the old id
    assert [i["id"] for i in _collection(deps, cid)["items"]] == [new.track_id, c, a]


@pytest.mark.parametrize(
    "current, wanted, replaced, result",
    [
        (["a", "b", "c"], ["c", "b", "a"], {}, ["c", "b", "a"]),
        (["a", "n", "c"], ["n", "a", "c"], {"n": "b"}, ["n", "a", "c"]),
        (["a", "n", "c"], ["b", "c", "a"], {"n": "b"}, ["n", "c", "a"]),
        (["a", "b", "x"], ["b", "a"], {}, ["b", "a", "x"]),  # one not named keeps its place after
        (["a", "b"], ["z", "b", "a", "b"], {}, ["b", "a"]),
    ],
)
def test_reordered(current, wanted, replaced, result):
    assert reordered(current, wanted, replaced) == result


def test_the_track_stream_shows_an_edit(deps, apply, events):
    ev = events()
    apply(ev.submitted(), ev.validated(), ev.waveform(), ev.fingerprint())
    client = create_api(deps, ChangeNotifier(), heartbeat_s=0.05, stream_max_s=0.2).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {deps.settings.internal_api_secret}"
    last = client.get(f"/internal/v1/producers/p1/tracks/{ev.track_id}/events").get_data(as_text=True)
    seq = [line[4:] for line in last.splitlines() if line.startswith("id: ")][-1]
    apply(_edited(ev, 1, ("title",), title="On the stream"))
    body = client.get(
        f"/internal/v1/producers/p1/tracks/{ev.track_id}/events", headers={"Last-Event-ID": seq}
    ).get_data(as_text=True)
    data = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [(d["edit"], d["edited"]) for d in data] == [(1, ["title"])]
    assert client.get(f"/internal/v1/producers/p2/tracks/{ev.track_id}").status_code == 404
