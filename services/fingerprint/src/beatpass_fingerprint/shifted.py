"""Verification of a shift-robust candidate: from matched triplet keys to a pitch shift, a tempo
ratio and an alignment, then peak by peak, window by window.

Conventions: the query is the new track. A candidate's peak (t, f) lands in the query at
(a * t + b, f + pitch) frames and semitones; ``tempo_ratio`` = 1 / a (1.05: the copy plays 5 %
faster), ``pitch_semitones`` = pitch. A speed change moves both (tempo 1.03 with +0.51 semitones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cqt_peaks import FRAME_S, Peaks
from .triplets import MAX_SHIFT, Triplets

MAX_PITCH = MAX_SHIFT  # semitones searched either way: +-2 of pitch plus a 6 % speed change (~1 semitone)
MAX_TEMPO = 1.15  # tempo ratio searched, and its inverse: 8 % of tempo on top of 6 % of speed
PITCH_STEP = 0.25  # semitones per histogram bin
SCALE_STEP = 0.004  # log steps of the time-scale grid (~0.4 %)
OFFSET_BIN = 2  # frames per bin of the time-offset histogram
INLIER_FRAMES = 2.0  # a matched triplet agrees with the fit within this many frames
MAX_PAIRS = 200_000  # matched triplet pairs examined per candidate (loops make many)
HIT_FRAMES = 1  # a peak is found again within +-1 frame...
HIT_SEMITONES = 0.5  # ...and +-0.5 semitone of where the fit puts it
WINDOW_FRAMES = 172  # ~8 s: the stretch over which peak agreement is judged
WINDOW_AGREEMENT = 0.36  # a window matches when this share of either track's sustained peaks is found again
MIN_WINDOW_PEAKS = 10  # sustained peaks a window needs on each side to be judged at all
MIN_INLIERS = 8  # fewer agreeing triplets: no fit worth verifying
MIN_VOTES = 20  # index keys a track must share with the query to be a candidate (chance: < 15 at 100k tracks)
MAX_CANDIDATES = 4  # the tracks sharing most keys are fitted and verified, at most this many


@dataclass(frozen=True)
class ShiftFit:
    pitch: float  # semitones
    scale: float  # a: query frames per candidate frame
    offset: float  # b: query frames
    inliers: int  # triplet pairs agreeing with the fit

    @property
    def tempo_ratio(self) -> float:
        return 1.0 / self.scale


@dataclass(frozen=True)
class ShiftMatch:
    track_ref: int
    fit: ShiftFit
    ranges: tuple[tuple[int, int], ...]  # matched [start, end) in query frames
    matched: int  # matched query frames
    agreement: float  # share of sustained peaks found again over the matched windows (0..1), the worse track's
    overall: float  # the same over all peaks, drum hits too (a copy copies its drums as well)
    coverage: float  # share of the query that matches
    matched_coverage: float  # share of the candidate that matches

    @property
    def matched_s(self) -> float:
        return self.matched * FRAME_S

    @property
    def offset_s(self) -> float:
        """Where the candidate's start lands in the query, in seconds (negative: before it)."""
        return self.fit.offset * FRAME_S

    def ranges_s(self) -> list[tuple[float, float]]:
        return [(round(a * FRAME_S, 2), round(b * FRAME_S, 2)) for a, b in self.ranges]


def fit(query: Triplets, candidate: Triplets) -> ShiftFit | None:
    """The pitch shift, time scale and offset most matched triplets agree on; None when fewer than
    ``MIN_INLIERS`` do."""
    qi, ci = _pairs(query.keys, candidate.keys)
    if len(qi) < MIN_INLIERS:
        return None
    dp = query.bins[qi].astype(np.float64) - candidate.bins[ci]
    inside = np.abs(dp) <= MAX_PITCH
    qi, ci, dp = qi[inside], ci[inside], dp[inside]
    if len(qi) < MIN_INLIERS:
        return None
    edges = np.arange(-MAX_PITCH, MAX_PITCH + PITCH_STEP, PITCH_STEP)
    counts, _ = np.histogram(dp, edges)
    smooth = np.convolve(counts, np.ones(3), "same")  # a shift between two bins splits its votes
    centre = edges[int(np.argmax(smooth))] + PITCH_STEP / 2
    near = np.abs(dp - centre) <= 1.5 * PITCH_STEP
    qi, ci, dp = qi[near], ci[near], dp[near]
    tq, tc = query.frames[qi].astype(np.float64), candidate.frames[ci].astype(np.float64)
    span_ratio = np.log(query.spans[qi] / candidate.spans[ci])
    best = (0, 1.0, 0.0)
    for log_a in np.arange(-np.log(MAX_TEMPO), np.log(MAX_TEMPO) + SCALE_STEP, SCALE_STEP):
        ok = np.abs(span_ratio - log_a) <= 0.12  # the triplet's own span roughly agrees
        if ok.sum() <= best[0]:
            continue
        a = np.exp(log_a)
        bins = np.floor((tq[ok] - a * tc[ok]) / OFFSET_BIN).astype(np.int64)
        low = bins.min()
        counts = np.bincount(bins - low)
        pooled = counts.copy()
        pooled[1:] += counts[:-1]  # an offset on a bin edge splits its votes with the bin below
        top = int(np.argmax(pooled))
        if pooled[top] > best[0]:
            best = (int(pooled[top]), a, float((top + low) * OFFSET_BIN))
    if best[0] < MIN_INLIERS:
        return None
    _, a, b0 = best
    inl = np.abs(tq - (a * tc + b0)) <= INLIER_FRAMES + OFFSET_BIN
    if inl.sum() >= 2 and np.ptp(tc[inl]) > 0:  # refine on the inliers: least squares
        a, b0 = np.polyfit(tc[inl], tq[inl], 1)
        if not 1 / MAX_TEMPO <= a <= MAX_TEMPO:
            a, b0 = best[1], best[2]
    inl = np.abs(tq - (a * tc + b0)) <= INLIER_FRAMES
    if inl.sum() < MIN_INLIERS:
        return None
    return ShiftFit(float(np.median(dp[inl])), float(a), float(b0), int(inl.sum()))


def _pairs(qkeys: np.ndarray, ckeys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (query, candidate) of equal keys, at most MAX_PAIRS (evenly thinned)."""
    order = np.argsort(ckeys, kind="stable")
    sk = ckeys[order]
    lo, hi = np.searchsorted(sk, qkeys, "left"), np.searchsorted(sk, qkeys, "right")
    reps = hi - lo
    total = int(reps.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qi = np.repeat(np.arange(len(qkeys)), reps)
    ci = order[np.repeat(lo, reps) + np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)]
    if total > MAX_PAIRS:
        pick = np.linspace(0, total - 1, MAX_PAIRS).astype(np.int64)
        qi, ci = qi[pick], ci[pick]
    return qi, ci


def verify(
    query: Peaks, candidate: Peaks, shift: ShiftFit, query_frames: int, candidate_frames: int, track_ref: int = 0
) -> ShiftMatch:
    """Put the candidate's peaks where ``shift`` says and judge window by window which share of
    each track's sustained peaks (notes, not drum hits: a shared drum loop must not carry a match)
    finds a peak of the other track there. A window matches when both shares reach
    ``WINDOW_AGREEMENT`` over at least ``MIN_WINDOW_PEAKS`` sustained peaks on each side."""
    empty = ShiftMatch(track_ref, shift, (), 0, 0.0, 0.0, 0.0, 0.0)
    n = query_frames
    if n < WINDOW_FRAMES:
        return empty
    mapped_t = shift.scale * candidate.frames + shift.offset
    mapped_f = candidate.bins + shift.pitch
    inside = (mapped_t >= 0) & (mapped_t < n)
    q_sel, c_sel = query.sustained, inside & candidate.sustained
    q_hit = _found(query.frames[q_sel], query.bins[q_sel], mapped_t[inside], mapped_f[inside])
    c_hit = _found(mapped_t[c_sel], mapped_f[c_sel], query.frames, query.bins)
    qt = np.clip(query.frames[q_sel], 0, n - 1)
    ct = np.clip(np.rint(mapped_t[c_sel]).astype(np.int64), 0, n - 1)
    kernel = np.ones(WINDOW_FRAMES)
    per_window = [
        np.convolve(np.bincount(t, weights=w, minlength=n), kernel, "valid")
        for t, w in ((qt, None), (qt, q_hit), (ct, None), (ct, c_hit))
    ]
    q_peaks, q_hits, c_peaks, c_hits = per_window
    good = (
        (q_peaks >= MIN_WINDOW_PEAKS)
        & (c_peaks >= MIN_WINDOW_PEAKS)
        & (q_hits >= WINDOW_AGREEMENT * q_peaks)
        & (c_hits >= WINDOW_AGREEMENT * c_peaks)
    )
    covered = np.convolve(good.astype(np.int32), np.ones(WINDOW_FRAMES, np.int32))[:n] > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(np.int8), [0]])))
    ranges = tuple((int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=False) if e - s >= WINDOW_FRAMES)
    matched = sum(e - s for s, e in ranges)
    if not matched:
        return empty
    q_in = np.zeros(n, bool)
    for s, e in ranges:
        q_in[s:e] = True
    agreement = min(q_hit[q_in[qt]].sum() / max(q_in[qt].sum(), 1), c_hit[q_in[ct]].sum() / max(q_in[ct].sum(), 1))
    q_all = _found(query.frames, query.bins, mapped_t[inside], mapped_f[inside])
    c_all = _found(mapped_t[inside], mapped_f[inside], query.frames, query.bins)
    q_at = q_in[np.clip(query.frames, 0, n - 1)]
    c_at = q_in[np.clip(np.rint(mapped_t[inside]).astype(np.int64), 0, n - 1)]
    overall = min(q_all[q_at].sum() / max(q_at.sum(), 1), c_all[c_at].sum() / max(c_at.sum(), 1))
    return ShiftMatch(
        track_ref,
        shift,
        ranges,
        matched,
        float(agreement),
        float(overall),
        matched / n,
        min(1.0, matched / shift.scale / max(candidate_frames, 1)),
    )


def _found(t: np.ndarray, f: np.ndarray, ref_t: np.ndarray, ref_f: np.ndarray) -> np.ndarray:
    """For each point (t, f), whether some reference point lies within HIT_FRAMES and HIT_SEMITONES."""
    if len(t) == 0 or len(ref_t) == 0:
        return np.zeros(len(t), np.float64)
    scale = 4.0  # quarter semitones; one integer per (frame, cell), cells within 0..1023
    cells = np.rint(ref_t).astype(np.int64) * 1024 + np.rint(ref_f * scale).astype(np.int64) + 128
    cells = np.unique(cells)
    qt, qf = np.rint(t).astype(np.int64), np.rint(f * scale).astype(np.int64) + 128
    reach = int(np.ceil(HIT_SEMITONES * scale))
    found = np.zeros(len(t), bool)
    for dt in range(-HIT_FRAMES, HIT_FRAMES + 1):
        for df in range(-reach, reach + 1):
            probe = (qt + dt) * 1024 + qf + df
            at = np.clip(np.searchsorted(cells, probe), 0, len(cells) - 1)
            found |= cells[at] == probe
    return found.astype(np.float64)
