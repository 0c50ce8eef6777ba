import threading

import pytest
from fingerprint_env import Env
from prometheus_client import REGISTRY

from beatpass_common.storage import LocalStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def env(request, settings):
    url = settings.database_url("fingerprint") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    env = Env(settings, LocalStore(str(settings.var_dir / "objects")), url)
    yield env
    env.close()


def fingerprint(env, track_id, data, key=None, **kw):
    env.validated(env.track_validated(track_id, env.upload(key or f"u/{track_id}", data), **kw))
    (event,) = env.relay()
    assert event.type == "fingerprint.completed" and event.track_id == track_id
    return event.payload()


def test_reupload_is_a_duplicate_and_stays_out_of_the_index(env, evalset):
    first = fingerprint(env, "t1", evalset.originals["beat0"])
    assert first.duplicate is None and first.duration_s == pytest.approx(60.0, abs=0.01)
    assert env.index_rows("t1") > 0
    mp3 = next(d for n, o, d in evalset.positives if n == "mp3_128k" and o == "beat0")
    second = fingerprint(env, "t2", mp3, producer="p2")
    assert second.duplicate.track_id == "t1" and second.duplicate.decision == "duplicate"
    assert second.duplicate.kind == "acoustic" and second.duplicate.score > 0.9
    assert second.duplicate.matched_ranges[0][0] == 0.0 and second.duplicate.matched_ranges[-1][1] > 55
    assert env.printed("t2") is not None and env.index_rows("t2") == 0
    same = fingerprint(env, "t3", evalset.originals["beat0"])
    assert same.duplicate.kind == "exact" and same.duplicate.track_id == "t1"


def test_redelivery_republishes_the_same_result_without_new_rows(env, evalset):
    def counted() -> tuple[float, float]:
        results = REGISTRY.get_sample_value(
            "beatpass_fingerprint_results_total", {"decision": "distinct", "kind": "none"}
        )
        return results or 0.0, REGISTRY.get_sample_value("beatpass_fingerprint_audio_seconds_total") or 0.0

    before = counted()
    event = env.track_validated("t1", env.upload("u/t1", evalset.originals["beat1"]))
    env.validated(event)
    (first,) = env.relay()
    rows = env.index_rows("t1")
    after = counted()  # the handler's metrics dependency counted the result and its audio, once
    assert after[0] == before[0] + 1 and after[1] == pytest.approx(before[1] + first.data["duration_s"], abs=0.01)
    env.validated(event)
    (again,) = env.relay()
    assert again.id == first.id and again.data == first.data
    assert env.index_rows("t1") == rows
    assert counted() == after  # a redelivery computes nothing: nothing more is counted
    env.validated(env.track_validated("t1", event.payload().source))  # re-driven: a new cause id
    (redriven,) = env.relay()
    assert redriven.id != first.id and redriven.data == first.data


def test_replaced_track_is_excluded_and_removal_leaves_the_index(env, evalset):
    fingerprint(env, "old", evalset.originals["beat2"])
    tagged = next(d for n, o, d in evalset.positives if n == "producer_tag" and o == "beat2")
    assert fingerprint(env, "new", tagged, replaces="old").duplicate is None
    env.removed(env.track_removed("old"))
    env.removed(env.track_removed("old"))  # idempotent
    assert env.printed("old") is None and env.index_rows("old") == 0 and env.shift_rows("old") == (False, 0)
    assert env.relay() == []
    trimmed = next(d for n, o, d in evalset.positives if n == "trim_first_7s" and o == "beat2")
    assert fingerprint(env, "third", trimmed).duplicate.track_id == "new"


def test_new_audio_for_the_same_track_is_fingerprinted_again(env, evalset):
    fingerprint(env, "t1", evalset.originals["beat0"])
    fingerprint(env, "t1", evalset.originals["beat1"], key="u/t1-retry", submission=1)  # a retry, new upload
    assert fingerprint(env, "t2", evalset.originals["beat1"]).duplicate.track_id == "t1"
    assert fingerprint(env, "t3", evalset.originals["beat0"]).duplicate is None
    stale = env.track_validated("t1", env.upload("u/t1", evalset.originals["beat0"]))  # submission 0, late
    env.validated(stale)
    assert env.relay() == [] and env.printed("t1").submission == 1


def test_a_removal_that_overtakes_a_redelivery_keeps_the_track_out(env, evalset):
    event = env.track_validated("t1", env.upload("u/t1", evalset.originals["beat2"]))
    env.validated(event)
    env.removed(env.track_removed("t1"))
    env.relay()
    env.validated(event)  # the same submission again, after its removal
    (again,) = env.relay()
    assert again.payload().duplicate is None
    assert env.printed("t1") is None and env.index_rows("t1") == 0
    assert fingerprint(env, "t2", evalset.originals["beat2"]).duplicate is None
    resubmitted = fingerprint(env, "t1", evalset.originals["beat2"], key="u/t1-again", submission=1)
    assert resubmitted.duplicate.track_id == "t2" and env.printed("t1").submission == 1


def test_two_identical_uploads_at_once_catch_each_other(env, evalset):
    data = evalset.originals["beat3"]
    events = [env.track_validated(t, env.upload(f"u/{t}", data)) for t in ("a", "b")]
    errors = []

    def run(event):
        try:
            env.validated(event)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    results = {e.track_id: e.payload().duplicate for e in env.relay()}
    assert sorted(d is None for d in results.values()) == [False, True]
    dup = next(d for d in results.values() if d)
    assert dup.kind == "exact" and dup.track_id in results


def test_a_duplicate_accepted_on_dispute_joins_the_index_when_ready(env, evalset):
    fingerprint(env, "t1", evalset.originals["beat1"])
    noisy = next(d for n, o, d in evalset.positives if n == "noise_30db_snr" and o == "beat1")
    assert fingerprint(env, "t2", noisy).duplicate.decision == "duplicate"
    env.ready(env.track_ready("t1"))  # an indexed track: nothing to do
    env.ready(env.track_ready("t2"))
    rows, shift_rows = env.index_rows("t2"), env.shift_rows("t2")
    env.ready(env.track_ready("t2"))  # redelivered
    assert rows > 0 and env.index_rows("t2") == rows
    assert shift_rows[0] and shift_rows[1] > 0 and env.shift_rows("t2") == shift_rows
    env.removed(env.track_removed("t1"))
    assert fingerprint(env, "t3", evalset.originals["beat1"]).duplicate.track_id == "t2"


def shifted_copy(evalset, name, original):
    return next(d for n, o, d in evalset.shifted if n == name and o == original)


def test_a_shifted_copy_is_found_with_its_factors_and_the_replaced_track_is_not(env, evalset):
    first = fingerprint(env, "t1", evalset.originals["beat0"])
    assert first.duplicate is None and env.shift_rows("t1")[0] and env.shift_rows("t1")[1] > 0
    copy = shifted_copy(evalset, "pitch_-2st_tempo_1.08", "beat0")
    dup = fingerprint(env, "t2", copy, producer="p2").duplicate
    assert dup.kind == "shifted" and dup.track_id == "t1" and dup.decision in {"review", "duplicate"}
    assert dup.pitch_semitones == pytest.approx(-2, abs=0.1) and dup.tempo_ratio == pytest.approx(1.08, abs=0.01)
    env.removed(env.track_removed("t2"))
    assert env.shift_rows("t2") == (False, 0)
    assert fingerprint(env, "t3", copy, replaces="t1").duplicate is None  # a new version of t1 in another key
    env.removed(env.track_removed("t1"))
    assert env.shift_rows("t1") == (False, 0) and env.shift_rows("t3")[1] > 0


def test_shifted_duplicates_stay_out_of_the_shift_index_until_a_dispute_is_accepted(env, evalset):
    fingerprint(env, "t1", evalset.originals["beat1"])
    decisions = set()
    for i, (name, original, data) in enumerate(evalset.shifted):
        if original != "beat1":
            continue
        dup = fingerprint(env, f"c{i}", data, producer="p2").duplicate
        assert dup is not None and dup.kind == "shifted" and dup.track_id == "t1", name
        decisions.add(dup.decision)
        if dup.decision == "duplicate":
            assert env.shift_rows(f"c{i}") == (True, 0)  # the print is kept, out of the index
            env.ready(env.track_ready(f"c{i}"))  # its dispute was accepted
            assert env.shift_rows(f"c{i}")[1] > 0 and env.index_rows(f"c{i}") > 0
        else:
            assert env.shift_rows(f"c{i}")[1] > 0  # in review: indexed, it may be cleared
        env.removed(env.track_removed(f"c{i}"))  # so that the next copy meets the original only
        assert env.shift_rows(f"c{i}") == (False, 0)
    assert "duplicate" in decisions  # this beat's slice has them (the evaluation: docs/fingerprint-matching.md)
