"""Find the indexed track a new fingerprint duplicates: exact PCM hash first, then acoustic
(Chromaprint), then, unless those found a duplicate, shifted (the shift-robust print)."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from beatpass_common.events import DuplicateMatch

from . import index
from .chroma import AudioPrint
from .cqt_peaks import FRAME_S
from .decision import decide, decide_shifted
from .keys import query_entries
from .matching import Match, best_alignment, vote
from .shifted import MAX_CANDIDATES, MIN_VOTES, ShiftMatch, fit, verify
from .triplets import query_keys, triplets

_RANK = {"duplicate": 2, "review": 1, "distinct": 0}


def find_duplicate(session: Session, audio: AudioPrint, exclude: set[str]) -> DuplicateMatch | None:
    exact = index.find_exact(session, audio, exclude)
    if exact is not None:
        return DuplicateMatch(
            track_id=exact.track_id,
            score=1.0,
            offset_s=0.0,
            kind="exact",
            decision="duplicate",
            coverage=1.0,
            matched_coverage=1.0,
            matched_ranges=[(0.0, round(audio.duration_s, 2))],
        )
    acoustic = _acoustic(session, audio, exclude)
    if audio.peaks is None or (acoustic is not None and acoustic.decision == "duplicate"):
        return acoustic
    shifted = _shifted(session, audio, exclude)
    if shifted is not None and (acoustic is None or shifted.decision == "duplicate"):
        return shifted
    return acoustic


def _acoustic(session: Session, audio: AudioPrint, exclude: set[str]) -> DuplicateMatch | None:
    found = best_match(session, audio, exclude)
    if found is None:
        return None
    track_id, match = found
    decision = decide(match)
    if decision == "distinct":
        return None
    return DuplicateMatch(
        track_id=track_id,
        score=round(match.score, 4),
        offset_s=round(match.offset_s, 2),
        kind="acoustic",
        decision=decision,
        coverage=round(match.coverage, 4),
        matched_coverage=round(match.matched_coverage, 4),
        matched_ranges=match.ranges_s(),
    )


def _shifted(session: Session, audio: AudioPrint, exclude: set[str]) -> DuplicateMatch | None:
    found = best_shifted(session, audio, exclude)
    if found is None:
        return None
    track_id, match = found
    decision = decide_shifted(match)
    if decision == "distinct":
        return None
    return DuplicateMatch(
        track_id=track_id,
        score=round(match.agreement, 4),
        offset_s=round(match.offset_s, 2),
        kind="shifted",
        decision=decision,
        coverage=round(match.coverage, 4),
        matched_coverage=round(match.matched_coverage, 4),
        matched_ranges=match.ranges_s(),
        pitch_semitones=round(match.fit.pitch, 2),
        tempo_ratio=round(match.fit.tempo_ratio, 4),
    )


def best_match(session: Session, audio: AudioPrint, exclude: set[str]) -> tuple[str, Match] | None:
    """The strongest verified candidate: by decision, then by matched length."""
    keys, positions = query_entries(audio.fingerprint)
    candidates = vote(keys, positions, index.postings(session, keys, exclude))
    if not candidates:
        return None
    prints = index.fingerprints(session, [c.track_ref for c in candidates])
    matches = [
        (prints[c.track_ref][0], best_alignment(audio.fingerprint, prints[c.track_ref][1], c.offsets, c.track_ref))
        for c in candidates
        if c.track_ref in prints
    ]
    return max(matches, key=lambda tm: (_RANK[decide(tm[1])], tm[1].matched, -tm[1].ber), default=None)


def best_shifted(session: Session, audio: AudioPrint, exclude: set[str]) -> tuple[str, ShiftMatch] | None:
    """The strongest verified candidate of the shift-robust index: the tracks sharing the most
    index keys (at least ``MIN_VOTES``, the best ``MAX_CANDIDATES``), each fitted and verified."""
    if audio.peaks is None:  # printed without the shift-robust peaks: nothing to look up
        return None
    query = triplets(audio.peaks)
    ids = index.shift_postings(session, query_keys(query), exclude)
    counts = np.bincount(ids) if len(ids) else np.zeros(0, np.int64)  # ids are small: the fingerprints' serial
    refs = np.flatnonzero(counts >= MIN_VOTES)
    votes = counts[refs]
    chosen = refs[np.argsort(-votes, kind="stable")[:MAX_CANDIDATES]].tolist()
    if not chosen:
        return None
    frames = int(round(audio.duration_s / FRAME_S))
    matches = []
    for ref, (track_id, duration_s, peaks) in index.shift_prints(session, chosen).items():
        shift = fit(query, triplets(peaks))
        if shift is not None:
            matches.append((track_id, verify(audio.peaks, peaks, shift, frames, int(round(duration_s / FRAME_S)), ref)))
    return max(matches, key=lambda tm: (_RANK[decide_shifted(tm[1])], tm[1].matched, tm[1].agreement), default=None)
