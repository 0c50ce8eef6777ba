"""Candidate voting over index postings, then verification by aligning fingerprints and
measuring the bit error rate window by window.

Conventions: the query is the new track; ``offset`` d aligns query position j with candidate
position j + d (a positive offset: the query starts d sub-fingerprints into the candidate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chroma import ITEM_S

WINDOW = 16  # sub-fingerprints (~2 s) over which a bit error rate is judged
WINDOW_BER = 0.20  # a window at or under this matches (docs/fingerprint-matching.md); unrelated ~0.45
MIN_RUN = WINDOW  # shorter matched runs are chance
MAX_CANDIDATES = 8
OFFSETS_PER_CANDIDATE = 3

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


@dataclass(frozen=True)
class Candidate:
    track_ref: int  # the index's id for the track
    offsets: tuple[int, ...]  # best-supported offsets first
    votes: int  # distinct aligned positions agreeing on the best offset (+-1)


@dataclass(frozen=True)
class Match:
    track_ref: int
    offset: int
    ranges: tuple[tuple[int, int], ...]  # matched [start, end) in query positions
    matched: int  # matched sub-fingerprints
    ber: float  # over the matched windows
    coverage: float  # share of the query that matches
    matched_coverage: float  # share of the candidate that matches

    @property
    def offset_s(self) -> float:
        return self.offset * ITEM_S

    @property
    def matched_s(self) -> float:
        return self.matched * ITEM_S

    @property
    def score(self) -> float:
        """1 for identical audio, 0 for unrelated (bit error rate 0.5)."""
        return max(0.0, 1.0 - 2.0 * self.ber) if self.matched else 0.0

    def ranges_s(self) -> list[tuple[float, float]]:
        return [(round(a * ITEM_S, 2), round(b * ITEM_S, 2)) for a, b in self.ranges]


def vote(query_keys: np.ndarray, query_pos: np.ndarray, postings: np.ndarray, min_votes: int = 2) -> list[Candidate]:
    """Rank tracks by how many index positions agree on one offset.

    ``postings`` rows are (key, track_ref, position) for the query's keys. Each index row is a
    distinct position of its track (keys are stored once per track), so a bin (track, offset)
    counts distinct aligned positions, and a loop repeated in the query cannot inflate it.
    """
    if len(postings) == 0:
        return []
    order = np.argsort(query_keys, kind="stable")
    qk, qp = query_keys[order], query_pos[order]
    lo = np.searchsorted(qk, postings[:, 0], "left")
    reps = np.searchsorted(qk, postings[:, 0], "right") - lo
    rows = np.repeat(np.arange(len(postings)), reps)
    qidx = np.repeat(lo, reps) + np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
    # One integer per (track, offset) bin; offsets are far below the shift in magnitude.
    shift = 1 << 24
    bins, counts = np.unique(
        postings[rows, 1] * (2 * shift) + (postings[rows, 2] - qp[qidx] + shift), return_counts=True
    )
    # A half-sub-fingerprint misalignment splits votes between neighbouring offsets: pool them.
    pooled = counts.copy()
    for step in (-1, 1):
        at = np.clip(np.searchsorted(bins, bins + step), 0, len(bins) - 1)
        pooled += np.where(bins[at] == bins + step, counts[at], 0)
    keep = pooled >= min_votes
    bins, pooled = bins[keep], pooled[keep]
    by_ref: dict[int, list[tuple[int, int]]] = {}
    for b, votes in zip(bins.tolist(), pooled.tolist(), strict=False):
        by_ref.setdefault(b // (2 * shift), []).append((votes, b % (2 * shift) - shift))
    candidates = []
    for ref, offs in by_ref.items():
        offs.sort(key=lambda vo: -vo[0])
        chosen: list[int] = []
        for _, o in offs:  # distinct offsets: alignment tries each one +-1 anyway
            if len(chosen) < OFFSETS_PER_CANDIDATE and all(abs(o - c) > 2 for c in chosen):
                chosen.append(o)
        candidates.append(Candidate(ref, tuple(chosen), offs[0][0]))
    candidates.sort(key=lambda c: -c.votes)
    return candidates[:MAX_CANDIDATES]


def bit_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differing bits per position of two equal-length uint32 arrays."""
    return _POPCOUNT[(a ^ b).view(np.uint8)].reshape(-1, 4).sum(axis=1)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=False))


def align(query: np.ndarray, candidate: np.ndarray, offset: int, track_ref: int = 0) -> Match:
    """Compare the two fingerprints at ``offset`` window by window."""
    start = max(0, -offset)  # first query position with a counterpart
    end = min(len(query), len(candidate) - offset)
    if end - start < WINDOW:
        return Match(track_ref, offset, (), 0, 0.5, 0.0, 0.0)
    errors = bit_errors(query[start:end], candidate[start + offset : end + offset]).astype(float)
    window_ber = np.convolve(errors, np.ones(WINDOW) / (32 * WINDOW), "valid")
    # A position matches when some window through it matches.
    covered = np.convolve((window_ber <= WINDOW_BER).astype(np.int32), np.ones(WINDOW, np.int32))[: len(errors)]
    ranges = tuple((a + start, b + start) for a, b in _runs(covered > 0) if b - a >= MIN_RUN)
    matched = sum(b - a for a, b in ranges)
    if not matched:
        return Match(track_ref, offset, (), 0, float(errors.mean() / 32), 0.0, 0.0)
    ber = float(sum(errors[a - start : b - start].sum() for a, b in ranges) / (32 * matched))
    return Match(track_ref, offset, ranges, matched, ber, matched / len(query), matched / len(candidate))


def best_alignment(query: np.ndarray, candidate: np.ndarray, offsets, track_ref: int = 0) -> Match:
    """The offset (each given one +-1) under which most of the query matches."""
    tried = {o + d for o in offsets for d in (-1, 0, 1)}
    return max((align(query, candidate, o, track_ref) for o in sorted(tried)), key=lambda m: (m.matched, -m.ber))
