"""From a verified match to duplicate / review / distinct (thresholds: docs/fingerprint-matching.md).

Coverage is judged on both tracks so that a shared loop, a sample or a drums-only intro (a small
share of each) never rejects a beat, while an excerpt or an extended cut of a track still does.
"""

from __future__ import annotations

import math
from typing import Literal

from .matching import Match
from .shifted import ShiftMatch

Decision = Literal["duplicate", "review", "distinct"]

DUPLICATE_MAX_BER = 0.15  # re-encodes measured <= 0.09; the matched windows are <= 0.20 anyway
DUPLICATE_MIN_S = 8.0  # at least this much audio in common
DUPLICATE_MIN_COVERAGE = 0.8  # of one of the two tracks (the shorter one, as a rule)...
DUPLICATE_MIN_OTHER_COVERAGE = 0.6  # ...and of the other: a 45 s excerpt of 60 s is 0.74
REVIEW_MIN_COVERAGE = 0.5  # half of either track is the other's audio: a person decides
REVIEW_MIN_S = 60.0  # or a full minute in common, whatever the lengths


def decide(match: Match | None) -> Decision:
    if match is None or not match.matched:
        return "distinct"
    high, low = sorted((match.coverage, match.matched_coverage), reverse=True)
    if (
        match.ber <= DUPLICATE_MAX_BER
        and match.matched_s >= DUPLICATE_MIN_S
        and high >= DUPLICATE_MIN_COVERAGE
        and low >= DUPLICATE_MIN_OTHER_COVERAGE
    ):
        return "duplicate"
    if high >= REVIEW_MIN_COVERAGE or match.matched_s >= REVIEW_MIN_S:
        return "review"
    return "distinct"


# Shifted copies (shifted.py; evidence in docs/fingerprint-matching.md, "Shifted copies").
SHIFT_MIN_PITCH = 0.15  # semitones; a fit with less pitch...
SHIFT_MIN_TEMPO = 0.004  # ...and less tempo change than this (as |ln ratio|) is no shift: Chromaprint's case
SHIFT_REVIEW_MIN_OVERALL = 0.40  # all peaks, drums too: copies measured >= 0.43 but one, distinct beats <= 0.38
SHIFT_DUPLICATE_MIN_AGREEMENT = 0.56  # what every re-encode, verified the same way, reaches (measured >= 0.57)


def decide_shifted(match: ShiftMatch | None) -> Decision:
    """The decision on a verified shifted candidate: a person decides on the coverage Chromaprint's
    review needs (a window only matches at shifted.WINDOW_AGREEMENT of its sustained peaks) when
    the drums agree as well (``SHIFT_REVIEW_MIN_OVERALL``); a duplicate needs Chromaprint's
    duplicate coverage and the sustained-peak agreement every re-encode reaches."""
    if match is None or not match.matched:
        return "distinct"
    if abs(match.fit.pitch) < SHIFT_MIN_PITCH and abs(math.log(match.fit.tempo_ratio)) < SHIFT_MIN_TEMPO:
        return "distinct"
    high, low = sorted((match.coverage, match.matched_coverage), reverse=True)
    if (
        match.agreement >= SHIFT_DUPLICATE_MIN_AGREEMENT
        and match.matched_s >= DUPLICATE_MIN_S
        and high >= DUPLICATE_MIN_COVERAGE
        and low >= DUPLICATE_MIN_OTHER_COVERAGE
    ):
        return "duplicate"
    if match.overall >= SHIFT_REVIEW_MIN_OVERALL and (high >= REVIEW_MIN_COVERAGE or match.matched_s >= REVIEW_MIN_S):
        return "review"
    return "distinct"
