import numpy as np

from beatpass_fingerprint.decision import decide
from beatpass_fingerprint.keys import STRIDE, index_entries, query_entries
from beatpass_fingerprint.matching import align, best_alignment, vote


def noisy(fp, flips, rng):
    """Flip ``flips`` random bits per sub-fingerprint."""
    out = fp.copy()
    for _ in range(flips):
        out ^= np.uint32(1) << rng.integers(0, 32, len(fp)).astype(np.uint32)
    return out


def postings_for(tracks):
    return np.array([(k, ref, p) for ref, fp in tracks.items() for k, p in index_entries(fp)], np.int64)


def test_vote_finds_the_shifted_copy_among_others():
    rng = np.random.default_rng(1)
    tracks = {i: rng.integers(0, 2**32, 480, dtype=np.uint32) for i in range(20)}
    query = noisy(tracks[7][40:400], 2, rng)
    keys, pos = query_entries(query)
    cands = vote(keys, pos, postings_for(tracks))
    assert cands[0].track_ref == 7 and cands[0].offsets[0] == 40
    match = best_alignment(query, tracks[7], cands[0].offsets)
    assert match.offset == 40 and match.coverage == 1.0
    assert abs(match.matched_coverage - 360 / 480) < 0.01
    assert match.ber < 0.1 and decide(match) == "duplicate"


def test_a_repeated_loop_counts_once():
    rng = np.random.default_rng(2)
    loop = rng.integers(0, 2**32, 4 * STRIDE, dtype=np.uint32)
    looped = np.tile(loop, 15)
    entries = index_entries(looped)
    assert len(entries) == len({k for k, _ in entries}) <= len(loop)
    keys, pos = query_entries(looped)
    cands = vote(keys, pos, postings_for({1: looped}))
    assert cands[0].votes <= len(loop) // STRIDE * 3  # pooled over +-1, never once per repeat


def test_unrelated_audio_does_not_match():
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 2**32, 500, dtype=np.uint32) for _ in range(2))
    match = align(a, b, 0)
    assert match.matched == 0 and decide(match) == "distinct"


def test_a_shared_section_is_review_or_distinct_not_duplicate():
    rng = np.random.default_rng(4)
    shared = rng.integers(0, 2**32, 120, dtype=np.uint32)  # ~15 s in common
    a = np.concatenate([shared, rng.integers(0, 2**32, 360, dtype=np.uint32)])
    b = np.concatenate([noisy(shared, 1, rng), rng.integers(0, 2**32, 360, dtype=np.uint32)])
    match = align(b, a, 0)
    assert 0.2 < match.coverage < 0.3 and match.ranges[0][0] == 0
    assert decide(match) == "distinct"
    half = align(b[:200], a[:200], 0)  # 60 % of each is the same audio
    assert decide(half) == "review"


def test_an_extended_cut_is_a_duplicate_of_the_original():
    rng = np.random.default_rng(5)
    original = rng.integers(0, 2**32, 400, dtype=np.uint32)
    extended = np.concatenate([noisy(original, 2, rng), rng.integers(0, 2**32, 100, dtype=np.uint32)])
    match = align(extended, original, 0)
    assert (round(match.coverage, 2), match.matched_coverage) == (0.8, 1.0)
    assert decide(match) == "duplicate"
