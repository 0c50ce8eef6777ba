"""Spectral peaks on a constant-Q grid: the points the shift-robust print is built from.

On a constant-Q grid a pitch shift moves every peak by the same number of bins and a tempo change
scales every peak's time by the same factor, so the geometry between peaks survives both (see
``triplets.py``). Input: the mono 16-bit samples at 11025 Hz that Chromaprint is fed
(``chroma.analyse``), decimated by 4 as they come (``Decimator``), so there is no second decode.
The constant-Q magnitude is librosa's (``librosa.cqt``); peaks are local maxima of its dB values in
a time x frequency neighbourhood, their frequency refined between bins by a parabola through the
peak and its two neighbours. Thresholds and their evidence: docs/fingerprint-matching.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOURCE_RATE = 11025  # what chroma.analyse resamples to
RATE = SOURCE_RATE / 4  # 2756.25 Hz: 110-831 Hz is where chords, leads and bass harmonics sit
HOP = 128  # samples per frame at RATE
FRAME_S = HOP / RATE  # ~46.4 ms
FMIN_HZ = 110.0  # A2: the octave below costs a quarter of the transform and holds mostly kick drums
BINS_PER_OCTAVE = 12  # a bin is a semitone; the parabola gives fractions of one
N_BINS = 36  # three octaves, A2 to G#5
NEIGHBOURHOOD_FRAMES = 7  # a peak is the maximum of +-7 frames (~0.33 s)...
NEIGHBOURHOOD_BINS = 3  # ...and +-3 semitones
FLOOR_DB = 45.0  # peaks more than this below the track's loudest bin are noise
SILENT_AMPLITUDE = 1e-4  # a track whose loudest bin is under this (-80 dB of full scale) has no peaks
MAX_PEAKS_PER_S = 12.0  # the strongest ones per 2 s block, a density bound for quiet and dense tracks
SUSTAIN_FRAMES = 2  # ~93 ms after the peak...
SUSTAIN_DROP_DB = 6.0  # ...a note's bin is still within this of the peak; a drum hit's has decayed
_BLOCK_FRAMES = int(round(2.0 / FRAME_S))
# Stored as they are computed: bins in 1/64 semitone, levels in 1/100 dB, so that a print read back
# from the index gives the very keys it was indexed under (removal recomputes them).
BIN_QUANTUM, LEVEL_QUANTUM = 64, 100
_PACKED = np.dtype([("frame", "<i4"), ("bin", "<u2"), ("level", "<i2"), ("sustained", "u1")])


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks of one track, in time order (then by frequency).

    ``frames``: int32 frame index (``FRAME_S`` seconds each); ``bins``: float32 constant-Q bin
    (semitones above ``FMIN_HZ``, fractional); ``levels``: float32 dB relative to the track's
    loudest bin (<= 0)."""

    frames: np.ndarray
    bins: np.ndarray
    levels: np.ndarray
    sustained: np.ndarray  # bool: the bin holds within SUSTAIN_DROP_DB SUSTAIN_FRAMES later (a note, not a hit)

    def __len__(self) -> int:
        return len(self.frames)


class Decimator:
    """11025 Hz int16 blocks in (``feed``), the whole track at ``RATE`` as float32 out (``finish``).
    soxr's streaming resampler (librosa's own resampling backend), so memory is 4 bytes per
    output sample, ~40 MB for an hour."""

    def __init__(self) -> None:
        import soxr  # the child imports it (service preload); the parent never needs it

        self._stream = soxr.ResampleStream(SOURCE_RATE, RATE, 1, dtype="float32", quality="HQ")
        self._parts: list[np.ndarray] = []

    def feed(self, pcm: bytes) -> None:
        if pcm:
            samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
            self._parts.append(self._stream.resample_chunk(samples))

    def finish(self) -> np.ndarray:
        self._parts.append(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
        return np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)


def magnitude_db(samples: np.ndarray) -> np.ndarray:
    """Constant-Q magnitude of mono float32 samples at ``RATE``, in dB below the loudest bin:
    shape (N_BINS, frames). Too short a signal for one frame gives zero frames; a silent one
    (``SILENT_AMPLITUDE``) -inf everywhere."""
    import librosa  # heavy (numba); the service's child preloads it

    if len(samples) < HOP:
        return np.zeros((N_BINS, 0), np.float32)
    cqt = np.abs(
        librosa.cqt(
            samples,
            sr=RATE,
            hop_length=HOP,
            fmin=FMIN_HZ,
            n_bins=N_BINS,
            bins_per_octave=BINS_PER_OCTAVE,
            res_type="soxr_hq",
        )
    )
    if cqt.size == 0 or cqt.max() <= SILENT_AMPLITUDE:
        return np.full(cqt.shape, -np.inf, np.float32)
    return librosa.amplitude_to_db(cqt, ref=np.max, top_db=None).astype(np.float32)


def find_peaks(db: np.ndarray) -> Peaks:
    """Local maxima of ``db`` (N_BINS x frames) within the neighbourhood, above the floor, at most
    ``MAX_PEAKS_PER_S`` a second (the strongest of each 2 s block)."""
    from scipy.ndimage import maximum_filter

    if db.shape[1] == 0:
        return Peaks(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, bool))
    local = maximum_filter(db, size=(2 * NEIGHBOURHOOD_BINS + 1, 2 * NEIGHBOURHOOD_FRAMES + 1), mode="nearest")
    is_peak = (db == local) & (db > -FLOOR_DB)
    is_peak[0, :] = is_peak[-1, :] = False  # the parabola needs both neighbours
    bins, frames = np.nonzero(is_peak)
    levels = db[bins, frames]
    keep = _strongest_per_block(frames, levels)
    bins, frames, levels = bins[keep], frames[keep], levels[keep]
    below, at, above = db[bins - 1, frames], levels, db[bins + 1, frames]
    curve = below - 2 * at + above
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(curve < 0, 0.5 * (below - above) / curve, 0.0)
    later = db[bins, np.minimum(frames + SUSTAIN_FRAMES, db.shape[1] - 1)]
    order = np.lexsort((bins, frames))
    fine = np.rint((bins + np.clip(delta, -0.5, 0.5)) * BIN_QUANTUM).astype(np.int64)
    return _peaks(
        frames[order],
        fine[order],
        np.rint(levels * LEVEL_QUANTUM).astype(np.int64)[order],
        (later >= levels - SUSTAIN_DROP_DB)[order],
    )


def _peaks(frames: np.ndarray, fine_bins: np.ndarray, centi_db: np.ndarray, sustained: np.ndarray) -> Peaks:
    """Peaks from their stored integer form (one computation, so stored and fresh peaks agree)."""
    return Peaks(
        frames.astype(np.int32),
        fine_bins.astype(np.float32) / np.float32(BIN_QUANTUM),
        centi_db.astype(np.float32) / np.float32(LEVEL_QUANTUM),
        sustained.astype(bool),
    )


def pack_peaks(peaks: Peaks) -> bytes:
    """The stored form: 9 bytes a peak (frame int32, bin in 1/64 semitone uint16, level in 1/100 dB
    int16, sustained uint8), little-endian."""
    out = np.empty(len(peaks), _PACKED)
    out["frame"] = peaks.frames
    out["bin"] = np.rint(peaks.bins * BIN_QUANTUM)
    out["level"] = np.rint(peaks.levels * LEVEL_QUANTUM)
    out["sustained"] = peaks.sustained
    return out.tobytes()


def unpack_peaks(data: bytes) -> Peaks:
    packed = np.frombuffer(data, _PACKED)
    return _peaks(
        packed["frame"], packed["bin"].astype(np.int64), packed["level"].astype(np.int64), packed["sustained"]
    )


def _strongest_per_block(frames: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Indices of the strongest peaks of each block, at most the density bound's share of it."""
    per_block = int(MAX_PEAKS_PER_S * _BLOCK_FRAMES * FRAME_S)
    block = frames // _BLOCK_FRAMES
    order = np.lexsort((-levels, block))  # by block, strongest first
    sorted_block = block[order]
    starts = np.searchsorted(sorted_block, sorted_block, "left")
    rank = np.arange(len(order)) - starts
    return np.sort(order[rank < per_block])


def peaks_of(samples: np.ndarray) -> Peaks:
    """``find_peaks(magnitude_db(samples))``."""
    return find_peaks(magnitude_db(samples))
