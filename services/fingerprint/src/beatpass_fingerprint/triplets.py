"""Peak triplets and their shift-invariant keys.

A triplet is an anchor peak and two later peaks near it in time and frequency. What its key holds
does not change when the audio is pitch-shifted, slowed or sped up:

- the time ratio (t2 - t1) / (t3 - t1): a tempo or speed change scales both differences alike;
- the frequency differences f2 - f1 and f3 - f1 in semitones: a pitch or speed change moves every
  peak by the same number of semitones on the constant-Q grid;
- the loudness order of the three peaks.

One thing that does move is kept, coarsely, so that a key is rarer and a lookup reads less: the
anchor's band of ``BAND_SEMITONES``. The index stores each triplet under its band; a lookup probes
every band its anchor could have come from under a shift of up to ``MAX_SHIFT`` semitones (two or
three), a search over the range of shifts on the query side.

What the key drops (the anchor's time and frequency, the triplet's span t3 - t1) is kept beside it,
so that a lookup can estimate the shift and the tempo ratio from matched keys (``shifted.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cqt_peaks import N_BINS, Peaks

MIN_GAP_FRAMES = 2  # between consecutive peaks of a triplet: closer gives a meaningless ratio
MAX_SPAN_FRAMES = 40  # t3 - t1 at most ~1.9 s
MIN_SPAN_FRAMES = 8  # and at least ~0.37 s, where one frame of jitter moves the ratio < 1/8
MAX_INTERVAL = 12.0  # semitones between the anchor and each partner
FANOUT = 4  # the anchor's first partners in time order; each pair of them makes a triplet (6 a peak)
RATIO_LEVELS = 16
INTERVAL_STEP = 0.5  # semitones per quantisation step of f2 - f1, f3 - f1
_INTERVALS = int(2 * MAX_INTERVAL / INTERVAL_STEP) + 1  # 49
SHAPES = RATIO_LEVELS * _INTERVALS * _INTERVALS * 6  # 230,496 shift-invariant shapes
BAND_SEMITONES = 4  # the anchor's band; the constant-Q grid's 36 semitones make 9 bands
BANDS = N_BINS // BAND_SEMITONES
KEY_SPACE = SHAPES * BANDS  # 2,074,464 keys
MAX_SHIFT = 3.25  # semitones a lookup allows for: +-2 of pitch and a 6 % speed change (shifted.MAX_PITCH)
SAMPLE_BITS = 2  # index_keys keeps the shapes whose mixed value has its top 2 bits 0: 1 in 4
_MAX_LOOKAHEAD = 64  # peaks after the anchor examined for partners (the density bound keeps it ample)


@dataclass(frozen=True)
class Triplets:
    """Triplets of one track. ``keys``: the shift-invariant shape, int64 in [0, SHAPES); ``frames``: anchor frame (int32);
    ``bins``: anchor bin (float32, semitones); ``spans``: t3 - t1 in frames (int32)."""

    keys: np.ndarray
    frames: np.ndarray
    bins: np.ndarray
    spans: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def triplets(peaks: Peaks) -> Triplets:
    """Every triplet of ``peaks`` (see the module's doc), in anchor order."""
    n = len(peaks)
    t, f, lv = peaks.frames.astype(np.int64), peaks.bins.astype(np.float64), peaks.levels
    if n < 3:
        return Triplets(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    # Partner candidates: the next _MAX_LOOKAHEAD peaks, kept when near enough.
    anchor = np.repeat(np.arange(n), _MAX_LOOKAHEAD)
    partner = anchor + np.tile(np.arange(1, _MAX_LOOKAHEAD + 1), n)
    inside = partner < n
    anchor, partner = anchor[inside], partner[inside]
    dt = t[partner] - t[anchor]
    near = (dt >= MIN_GAP_FRAMES) & (dt <= MAX_SPAN_FRAMES) & (np.abs(f[partner] - f[anchor]) <= MAX_INTERVAL)
    anchor, partner = anchor[near], partner[near]
    rank = np.arange(len(anchor)) - np.searchsorted(anchor, anchor, "left")
    first = rank < FANOUT
    anchor, partner, rank = anchor[first], partner[first], rank[first]
    # Pairs (j, k) of partners of one anchor, j before k in time.
    slots = np.full((n, FANOUT), -1, np.int64)
    slots[anchor, rank] = partner
    a_list, j_list, k_list = [], [], []
    for x in range(FANOUT):
        for y in range(x + 1, FANOUT):
            ok = (slots[:, x] >= 0) & (slots[:, y] >= 0)
            a_list.append(np.flatnonzero(ok))
            j_list.append(slots[ok, x])
            k_list.append(slots[ok, y])
    a, j, k = np.concatenate(a_list), np.concatenate(j_list), np.concatenate(k_list)
    span, first_gap = t[k] - t[a], t[j] - t[a]
    valid = (span >= MIN_SPAN_FRAMES) & (t[k] - t[j] >= MIN_GAP_FRAMES)
    a, j, k, span, first_gap = a[valid], j[valid], k[valid], span[valid], first_gap[valid]
    ratio = np.minimum((first_gap * RATIO_LEVELS) // span, RATIO_LEVELS - 1)
    d12 = np.rint((f[j] - f[a]) / INTERVAL_STEP).astype(np.int64) + _INTERVALS // 2
    d13 = np.rint((f[k] - f[a]) / INTERVAL_STEP).astype(np.int64) + _INTERVALS // 2
    keys = ((ratio * _INTERVALS + d12) * _INTERVALS + d13) * 6 + _loudness_order(lv[a], lv[j], lv[k])  # the shape
    order = np.argsort(a, kind="stable")
    return Triplets(
        keys[order], t[a][order].astype(np.int32), f[a][order].astype(np.float32), span[order].astype(np.int32)
    )


def _loudness_order(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Which of the 6 orders the three levels are in (0..5); ties go to the earlier peak."""
    xy, xz, yz = (x >= y).astype(np.int64), (x >= z).astype(np.int64), (y >= z).astype(np.int64)
    rank_x, rank_y, rank_z = xy + xz, 1 - xy + yz, 2 - xz - yz
    return rank_x * 2 + (rank_y > rank_z)


def sampled(shapes: np.ndarray) -> np.ndarray:
    """Which shapes the index uses: a fixed 1 in 2**SAMPLE_BITS by a mixing of their value, the same
    on both sides, so a copy still shares that share of its shapes while the index and each
    lookup read that much less."""
    return ((shapes * 0x9E3779B1) & 0xFFFFFFFF) >> (32 - SAMPLE_BITS) == 0


def _band(bins: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(bins / BAND_SEMITONES), 0, BANDS - 1).astype(np.int64)


def index_keys(tri: Triplets) -> np.ndarray:
    """The keys the index keeps for a track: sampled shapes under their anchor's band, each key
    once (a loop repeated through a track counts as one loop). Sorted int64 in [0, KEY_SPACE)."""
    keep = sampled(tri.keys)
    return np.unique(tri.keys[keep] * BANDS + _band(tri.bins[keep]))


def query_keys(tri: Triplets) -> np.ndarray:
    """The keys a lookup reads: each sampled shape under every band its anchor may have had in the
    original, up to MAX_SHIFT semitones away. Sorted unique int64."""
    keep = sampled(tri.keys)
    shapes, bins = tri.keys[keep], tri.bins[keep].astype(np.float64)
    low, high = _band(bins - MAX_SHIFT), _band(bins + MAX_SHIFT)
    # MAX_SHIFT * 2 < 2 * BAND_SEMITONES: at most three bands, low, low + 1 and high
    return np.unique(
        np.concatenate([shapes * BANDS + low, shapes * BANDS + np.minimum(low + 1, high), shapes * BANDS + high])
    )
