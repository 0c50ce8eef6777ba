"""The labelled evaluation (docs/fingerprint-matching.md): every transformation of an indexed
track is a duplicate of it; every pitch, tempo or speed change of it (the fixed slice) is found,
with its factors; no different beat, even on the same drum loop, in the same key and tempo or
re-arranged from the same chords, is flagged at all."""

import pytest
from beat_transforms import SHIFT_SLICE, SHIFTS, TRANSFORMS

from beatpass_common.db import make_engine, migrate, session_factory, transaction
from beatpass_fingerprint import index
from beatpass_fingerprint.search import find_duplicate
from beatpass_fingerprint.service import MIGRATIONS


@pytest.fixture
def indexed(tmp_path, evalset):
    url = f"sqlite:///{tmp_path / 'fp.db'}"
    migrate(url, MIGRATIONS)
    factory = session_factory(make_engine(url))
    with transaction(factory) as session:
        for name, data in evalset.originals.items():
            index.add(
                session,
                track_id=name,
                producer_id="p1",
                source=name,
                audio=evalset.print(data),
                indexed=True,
                result={},
            )
    return factory


def test_every_transformation_is_a_duplicate(indexed, evalset):
    misses = []
    with transaction(indexed) as session:
        for name, original, data in evalset.positives:
            found = find_duplicate(session, evalset.print(data), set())
            if found is None or found.track_id != original or found.decision != "duplicate":
                misses.append((name, original, found))
    assert not misses
    assert {n for n, _, _ in evalset.positives} == set(TRANSFORMS)


def test_every_shifted_copy_is_found_with_its_factors(indexed, evalset):
    misses = []
    with transaction(indexed) as session:
        for name, original, data in evalset.shifted:
            found = find_duplicate(session, evalset.print(data), set())
            _, pitch, tempo = SHIFTS[name]
            if (
                found is None
                or found.track_id != original
                or found.kind != "shifted"
                or abs(found.pitch_semitones - pitch) > 0.1
                or abs(found.tempo_ratio - tempo) > 0.01
            ):
                misses.append((name, original, found))
    assert not misses
    assert {n for n, _, _ in evalset.shifted} == set(SHIFT_SLICE)


def test_no_negative_is_flagged(indexed, evalset):
    with transaction(indexed) as session:
        decisions = [(kind, find_duplicate(session, evalset.print(data), set())) for kind, _, data in evalset.negatives]
    assert [(k, d) for k, d in decisions if d is not None] == []
    assert {k for k, _ in decisions} == {
        "same_drum_loop",
        "drum_loop_only",
        "different_track",
        "rearranged",
        "same_key_tempo",
    }


def test_the_track_itself_and_the_replaced_track_are_excluded(indexed, evalset):
    data = evalset.originals["beat0"]
    with transaction(indexed) as session:
        assert find_duplicate(session, evalset.print(data), set()).kind == "exact"
        assert find_duplicate(session, evalset.print(data), {"beat0"}) is None
