import json

import pytest

from beatpass_common.events import MalformedEvent, ObjectRef, Problem, TrackRejected, new_event, parse_event


def test_round_trip_keeps_typed_data():
    event = new_event(
        "track.rejected",
        TrackRejected(errors=[Problem(code="X", field="audio", message="Bad.")]),
        producer_id="p1",
        track_id="t1",
    )
    parsed = parse_event(event.to_json())
    assert parsed == event
    assert parsed.payload().errors[0].message == "Bad."


def test_deterministic_id_from_cause():
    cause = new_event("track.rejected", {"errors": []}, producer_id="p")
    a = new_event("step.failed", {"step": "x", "error": "e", "attempts": 1}, producer_id="p", caused_by=cause)
    b = new_event("step.failed", {"step": "x", "error": "e", "attempts": 1}, producer_id="p", caused_by=cause)
    assert a.id == b.id != cause.id


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps({"id": "1", "type": "track.ready"}).encode(), "invalid envelope"),
        (
            json.dumps(
                {"id": "1", "type": "nope", "occurred_at": "2026-01-01T00:00:00Z", "producer_id": "p", "data": {}}
            ).encode(),
            "unknown event type",
        ),
        (
            json.dumps(
                {
                    "id": "1",
                    "type": "track.ready",
                    "version": 9,
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "producer_id": "p",
                    "data": {"title": "t"},
                }
            ).encode(),
            "unsupported version",
        ),
        (
            json.dumps(
                {
                    "id": "1",
                    "type": "track.ready",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "producer_id": "p",
                    "data": {},
                }
            ).encode(),
            "invalid track.ready data at title",
        ),
    ],
)
def test_malformed_messages_name_the_reason(body, reason):
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(body)


def test_publishing_invalid_data_is_refused():
    with pytest.raises(MalformedEvent):
        new_event("waveform.generated", {"samples_per_pixel": 256}, producer_id="p")
    with pytest.raises(MalformedEvent):
        new_event("no.such", {}, producer_id="p")


def test_object_ref_rejects_negative_size():
    with pytest.raises(ValueError):
        ObjectRef(bucket="b", key="k", size=-1)


def test_edits_are_numbered_from_one_and_a_submission_without_an_edit_number_is_edit_0():
    meta = {"title": "t", "artists": ["a"], "bpm": 120, "key": "A", "scale": "minor", "licensing": "exclusive"}
    with pytest.raises(MalformedEvent, match="track.edited"):
        new_event("track.edited", {"edit": 0, "metadata": meta}, producer_id="p")
    with pytest.raises(MalformedEvent, match="collection.edited"):
        new_event("collection.edited", {"title": "x"}, producer_id="p")
    ref = {"bucket": "b", "key": "k", "size": 1}
    older = parse_event(
        json.dumps(
            {
                "id": "1",
                "type": "track.submitted",
                "occurred_at": "2026-01-01T00:00:00Z",
                "producer_id": "p",
                "data": {"audio": ref, "cover": ref, "metadata": meta},
            }
        )
    )
    assert older.payload().edit == 0  # sent before edits existed
