"""Tempo and key estimates (librosa) from a few short excerpts, never the whole track.

Up to three 20-second excerpts spread over the track are kept by decode.py (mono, native rate),
resampled to 22.05 kHz here, and analysed together: bounded time and memory for any length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from .deadline import Deadline

ANALYSIS_RATE = 22050
HOP = 256  # 11.6 ms onset frames: tempo lags fine enough to tell 120 from 123 BPM
TEMPOGRAM_FRAMES = 768  # about 8.9 s of autocorrelation
EXCERPT_S = 20.0
MAX_EXCERPTS = 3
NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Estimate:
    bpm: float | None = None
    bpm_confidence: float | None = None
    key: str | None = None
    key_confidence: float | None = None


def windows(frames: int, rate: int) -> list[tuple[int, int]]:
    """(start, length) frame ranges of the excerpts, centred in equal parts of the track."""
    length = min(frames, int(EXCERPT_S * rate))
    count = max(1, min(MAX_EXCERPTS, frames // max(1, length)))
    return [(max(0, min(frames - length, int((i + 0.5) * frames / count) - length // 2)), length)
            for i in range(count)]


def _resample(x: np.ndarray, rate: int) -> np.ndarray:
    g = math.gcd(ANALYSIS_RATE, rate)
    return resample_poly(x, ANALYSIS_RATE // g, rate // g).astype(np.float32)


def estimate(excerpts: list[np.ndarray], rate: int, *, bpm_min: float, bpm_max: float,
             deadline: Deadline) -> Estimate:
    import librosa  # heavy import (numba); only workers that estimate pay for it

    tempograms, chroma = [], np.zeros(12)
    for excerpt in excerpts:
        deadline.check()
        y = _resample(excerpt, rate)
        if len(y) < ANALYSIS_RATE * 2:
            continue
        onset = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=HOP)
        tempograms.append(librosa.feature.tempogram(onset_envelope=onset, sr=ANALYSIS_RATE, hop_length=HOP,
                                                     win_length=TEMPOGRAM_FRAMES))
        chroma += librosa.feature.chroma_stft(y=y, sr=ANALYSIS_RATE, n_fft=4096, hop_length=2048).sum(axis=1)
    if not tempograms:
        return Estimate()
    bpm, bpm_conf = _tempo(np.concatenate(tempograms, axis=1), bpm_min, bpm_max)
    key, key_conf = _key(chroma)
    return Estimate(bpm, bpm_conf, key, key_conf)


def _tempo(tg: np.ndarray, bpm_min: float, bpm_max: float) -> tuple[float | None, float | None]:
    import librosa

    bpm = float(librosa.feature.tempo(tg=tg, sr=ANALYSIS_RATE, hop_length=HOP)[0])
    if not bpm > 0:
        return None, None
    # Confidence: how periodic the onsets are at that tempo (the tempogram is an autocorrelation
    # normalised to 1 at lag 0), read before folding into the accepted range.
    strength = tg.mean(axis=1)
    lag = int(round(60.0 * ANALYSIS_RATE / (HOP * bpm)))
    confidence = float(np.clip(strength[lag], 0.0, 1.0))
    if 1 <= lag < len(strength) - 1:  # parabolic peak interpolation between whole-frame lags
        y0, y1, y2 = strength[lag - 1: lag + 2]
        curve = y0 - 2 * y1 + y2
        if curve < 0:
            bpm = 60.0 * ANALYSIS_RATE / (HOP * (lag + 0.5 * (y0 - y2) / curve))
    while bpm < bpm_min and bpm * 2 <= bpm_max:
        bpm *= 2
    while bpm > bpm_max and bpm / 2 >= bpm_min:
        bpm /= 2
    return round(bpm, 1), round(confidence, 3)


def _key(chroma: np.ndarray) -> tuple[str | None, float | None]:
    if not chroma.any():
        return None, None
    best = (-2.0, "")
    for tonic in range(12):
        for profile, scale in ((MAJOR, "major"), (MINOR, "minor")):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            best = max(best, (r, f"{NOTES[tonic]} {scale}"))
    return best[1], round(max(0.0, best[0]), 3)
