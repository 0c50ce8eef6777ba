"""Find the indexed track a new fingerprint duplicates: exact PCM hash first, then acoustic."""

from __future__ import annotations

from sqlalchemy.orm import Session

from beatpass_common.events import DuplicateMatch

from . import index
from .chroma import AudioPrint
from .decision import decide
from .keys import query_entries
from .matching import Match, best_alignment, vote

_RANK = {"duplicate": 2, "review": 1, "distinct": 0}


def find_duplicate(session: Session, audio: AudioPrint, exclude: set[str]) -> DuplicateMatch | None:
    exact = index.find_exact(session, audio, exclude)
    if exact is not None:
        return DuplicateMatch(track_id=exact.track_id, score=1.0, offset_s=0.0, kind="exact",
                              decision="duplicate", coverage=1.0, matched_coverage=1.0,
                              matched_ranges=[(0.0, round(audio.duration_s, 2))])
    found = best_match(session, audio, exclude)
    if found is None:
        return None
    track_id, match = found
    decision = decide(match)
    if decision == "distinct":
        return None
    return DuplicateMatch(track_id=track_id, score=round(match.score, 4), offset_s=round(match.offset_s, 2),
                          kind="acoustic", decision=decision, coverage=round(match.coverage, 4),
                          matched_coverage=round(match.matched_coverage, 4), matched_ranges=match.ranges_s())


def best_match(session: Session, audio: AudioPrint, exclude: set[str]) -> tuple[str, Match] | None:
    """The strongest verified candidate: by decision, then by matched length."""
    keys, positions = query_entries(audio.fingerprint)
    candidates = vote(keys, positions, index.postings(session, keys, exclude))
    if not candidates:
        return None
    prints = index.fingerprints(session, [c.track_ref for c in candidates])
    matches = [(prints[c.track_ref][0], best_alignment(audio.fingerprint, prints[c.track_ref][1], c.offsets, c.track_ref))
               for c in candidates if c.track_ref in prints]
    return max(matches, key=lambda tm: (_RANK[decide(tm[1])], tm[1].matched, -tm[1].ber), default=None)
