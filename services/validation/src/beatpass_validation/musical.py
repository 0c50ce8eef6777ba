"""Tempo and key estimates (librosa) from a few short excerpts, never the whole track.

Up to three 20-second excerpts spread over the track are kept while decode.py streams the audio
(mono, decimated to 22-44 kHz) and analysed together: bounded time and memory for any length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

ANALYSIS_RATE = 22050  # excerpts are decimated by a whole factor to between this and twice it
HOP = 512
EXCERPT_S = 20.0
MAX_EXCERPTS = 3
NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Summed chroma flatter than this (relative to its largest class) has no key: its correlation with
# every profile would be 0/0 or rounding noise.
FLAT_CHROMA = 1e-6


@dataclass(frozen=True)
class Estimate:
    bpm: float | None = None
    bpm_confidence: float | None = None
    key: str | None = None
    key_confidence: float | None = None


class Excerpt:
    """A mono, decimated copy of frames [start, start + length), filled as blocks stream past.

    Decimation happens on the fly (stateful anti-alias filter, then every ``factor``-th sample)
    so a 192 kHz excerpt never sits in memory at its native rate.
    """

    def __init__(self, start: int, length: int, rate: int):
        self.start, self.length = start, length
        self.factor = max(1, rate // ANALYSIS_RATE)
        self.rate = rate / self.factor
        self.samples = np.zeros(-(-length // self.factor), np.float32)
        self._sos = butter(8, 0.8 / self.factor, output="sos") if self.factor > 1 else None
        self._zi = None if self._sos is None else np.zeros((len(self._sos), 2))

    def feed(self, first: int, planar: np.ndarray, scale: float) -> None:
        """``planar`` (channels, n) begins at frame ``first`` of the track."""
        lo, hi = max(first, self.start), min(first + planar.shape[1], self.start + self.length)
        if lo >= hi:
            return
        mono = planar[:, lo - first : hi - first].mean(axis=0, dtype=np.float32) * np.float32(scale)
        if self._sos is not None:
            mono, self._zi = sosfilt(self._sos, mono, zi=self._zi)
        skip = -(lo - self.start) % self.factor  # keep the samples on the decimation grid
        picked = mono[skip :: self.factor]
        at = (lo - self.start + skip) // self.factor
        self.samples[at : at + len(picked)] = picked


def excerpts(frames: int, rate: int) -> list[Excerpt]:
    """Up to three excerpts, centred in equal parts of the track."""
    length = min(frames, int(EXCERPT_S * rate))
    count = max(1, min(MAX_EXCERPTS, frames // max(1, length)))
    return [
        Excerpt(max(0, min(frames - length, int((i + 0.5) * frames / count) - length // 2)), length, rate)
        for i in range(count)
    ]


def estimate(parts: list[Excerpt], *, bpm_min: float, bpm_max: float) -> Estimate:
    """Tempo in BPM within [``bpm_min``, ``bpm_max``] and one of the 24 major/minor keys, each with a
    confidence in [0, 1]; any of them None ("not estimated") when the excerpts do not support it.

    Total: finite results or None for any finite samples, in time bounded by the excerpts' length.
    """
    import librosa  # heavy import (numba); only workers that estimate pay for it

    strength, columns, chroma = None, 0, np.zeros(12)
    rate: float = ANALYSIS_RATE
    for part in parts:
        y, rate = part.samples, part.rate
        if len(y) < rate * 2:
            continue
        # Tempo and key do not depend on level; at full scale librosa's float32 spectra can
        # neither overflow (huge float samples) nor sink under its floors (near-silence).
        # An excerpt with no signal, or made non-finite by extreme samples, says nothing.
        top = float(np.max(np.abs(y)))
        if not 0 < top < math.inf:
            continue
        y = y / np.float32(top)
        onset = librosa.onset.onset_strength(y=y, sr=rate, hop_length=HOP)
        tg = librosa.feature.tempogram(onset_envelope=onset, sr=rate, hop_length=HOP)
        strength = tg.sum(axis=1) if strength is None else strength + tg.sum(axis=1)
        columns += tg.shape[1]
        chroma += librosa.feature.chroma_stft(y=y, sr=rate, n_fft=4096, hop_length=2048).sum(axis=1)
    if strength is None:
        return Estimate()
    bpm, bpm_conf = _tempo(strength / columns, rate, bpm_min, bpm_max)
    key, key_conf = _key(chroma)
    return Estimate(bpm, bpm_conf, key, key_conf)


def _tempo(strength: np.ndarray, rate: float, bpm_min: float, bpm_max: float) -> tuple[float | None, float | None]:
    """Tempo from the mean tempogram (an onset autocorrelation, 1 at lag 0).

    Confidence is the peak's prominence over the median of the musical tempo range: noise
    correlates about equally at every lag (prominence near 0), a steady beat stands out (near 1).
    """
    import librosa

    if not np.isfinite(strength).all():
        return None, None
    bpm = float(librosa.feature.tempo(tg=strength[:, None], sr=rate, hop_length=HOP)[0])
    if not 0 < bpm < math.inf:  # no periodicity at all (e.g. DC)
        return None, None
    lag = int(round(60.0 * rate / (HOP * bpm)))
    peak = strength[lag]
    if 1 <= lag < len(strength) - 1:  # parabolic interpolation between whole-frame lags
        y0, y1, y2 = strength[lag - 1 : lag + 2]
        curve = y0 - 2 * y1 + y2
        # Only at a local maximum, whose vertex lies within half a lag of it: elsewhere (the
        # prior may pick a point on a slope) the vertex can be far away, even at a negative lag.
        if curve < 0 and y1 >= max(y0, y2):
            shift = min(0.5, max(-0.5, 0.5 * (y0 - y2) / curve))
            bpm, peak = 60.0 * rate / (HOP * (lag + shift)), y1 - 0.25 * (y0 - y2) * shift
    tempi = librosa.tempo_frequencies(len(strength), hop_length=HOP, sr=rate)
    floor = float(np.median(strength[(tempi >= 30) & (tempi <= 300)]))
    folded = _fold_octaves(bpm, bpm_min, bpm_max)
    confidence = float(np.clip(peak - floor, 0.0, 1.0))
    if folded is None or not math.isfinite(confidence):
        return None, None
    return float(min(bpm_max, max(bpm_min, round(folded, 1)))), round(confidence, 3)


def _fold_octaves(bpm: float, bpm_min: float, bpm_max: float) -> float | None:
    """``bpm`` (positive, finite) doubled or halved into [bpm_min, bpm_max], unchanged when already
    there; None when no octave of it falls in the range.

    The number of octaves comes from log2, not from a loop on a float: fixed work for any tempo.
    """
    if not 0 < bpm_min <= bpm_max:
        raise ValueError(f"the BPM range [{bpm_min}, {bpm_max}] is empty or not positive")
    if bpm < bpm_min:
        octaves = math.ceil(math.log2(bpm_min) - math.log2(bpm))
        octaves += math.ldexp(bpm, octaves) < bpm_min  # log2 may round down across a whole number
    elif bpm > bpm_max:
        octaves = math.floor(math.log2(bpm_max) - math.log2(bpm))
        octaves -= math.ldexp(bpm, octaves) > bpm_max
    else:
        return bpm
    folded = math.ldexp(bpm, octaves)  # exact: a power-of-two scaling
    return folded if bpm_min <= folded <= bpm_max else None


def _key(chroma: np.ndarray) -> tuple[str | None, float | None]:
    """The Krumhansl-Kessler profile that correlates best with the summed chroma, and that
    correlation as the confidence; None when the chroma is flat (every correlation undefined)."""
    top = float(chroma.max())
    if not 0 < top < math.inf:
        return None, None
    chroma = chroma / top
    if np.ptp(chroma) < FLAT_CHROMA:
        return None, None
    best = (-2.0, "")
    for tonic in range(12):
        for profile, scale in ((MAJOR, "major"), (MINOR, "minor")):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            best = max(best, (r, f"{NOTES[tonic]} {scale}"))
    return best[1], round(min(1.0, max(0.0, best[0])), 3)
