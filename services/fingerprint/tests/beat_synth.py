"""Seeded beat generator for the evaluation set: drums, bass, chords and a melody, arranged
in sections that loop a phrase the way beats do (a loop that repeats is the hard case)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

SR = 44_100
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}


@dataclass(frozen=True)
class BeatSpec:
    seed: int  # melody, harmony, instruments
    drum_seed: int  # the drum loop
    bpm: float
    root: int  # pitch class
    scale: str
    duration_s: float = 60.0
    drums_only: bool = False  # the bare drum loop, repeated for the whole track
    phrase_seed: int | None = None  # another lead phrase over the same chords and sounds


def random_spec(seed: int, duration_s: float = 60.0) -> BeatSpec:
    rng = np.random.default_rng(seed)
    return BeatSpec(
        seed,
        seed + 10_000,
        float(rng.integers(80, 151)),
        int(rng.integers(0, 12)),
        str(rng.choice(list(SCALES))),
        duration_s,
    )


def same_drums(spec: BeatSpec, seed: int) -> BeatSpec:
    """A different beat on the same drum loop, tempo and key (the near-miss negative)."""
    return replace(spec, seed=seed)


def rearranged(spec: BeatSpec, seed: int) -> BeatSpec:
    """The same producer's re-arrangement: chords, sounds, key and tempo kept; a new lead phrase
    and a new drum loop."""
    return replace(spec, phrase_seed=seed, drum_seed=seed + 10_000)


def same_key_and_tempo(spec: BeatSpec, seed: int) -> BeatSpec:
    """An unrelated beat in the same key and tempo (another progression, phrase, sounds and drums)."""
    return replace(random_spec(seed, spec.duration_s), bpm=spec.bpm, root=spec.root, scale=spec.scale)


def drum_loop_only(spec: BeatSpec) -> BeatSpec:
    """Just the beat's drum loop over and over: repetitive material shared with the beat."""
    return replace(spec, drums_only=True)


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _env(n: int, attack: float, release: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1.0, t / attack) * np.minimum(1.0, (n / SR - t) / release)


def _additive(freq, n, weights, decay=0.0):
    t = np.arange(n) / SR
    out = np.zeros(n)
    for k, w in enumerate(weights, start=1):
        if k * freq < SR / 2:
            out += w * np.sin(2 * np.pi * k * freq * t) * np.exp(-decay * k * t)
    return out


def _instrument(name: str):
    if name == "saw":
        return lambda f, n: _additive(f, n, [1 / k for k in range(1, 12)]) * _env(n, 0.01, 0.05)
    if name == "square":
        return lambda f, n: _additive(f, n, [1 / k if k % 2 else 0 for k in range(1, 12)]) * _env(n, 0.01, 0.05)
    if name == "pluck":
        return lambda f, n: _additive(f, n, [1, 0.6, 0.4, 0.3, 0.2, 0.1], decay=3.0) * _env(n, 0.002, 0.02)
    if name == "organ":
        return lambda f, n: _additive(f, n, [1, 0.8, 0.5, 0, 0.3, 0, 0, 0.2]) * _env(n, 0.02, 0.05)
    if name == "bell":

        def bell(f, n):
            t = np.arange(n) / SR
            return np.sin(2 * np.pi * f * t + 2.5 * np.exp(-4 * t) * np.sin(2 * np.pi * 3.5 * f * t)) * np.exp(-2.5 * t)

        return bell
    raise KeyError(name)


MELODY = ["saw", "square", "pluck", "bell", "organ"]
PADS = ["organ", "saw", "square"]
BASS = ["saw", "square", "pluck"]


def _cached(instrument):
    """Phrases repeat, so each (pitch, length) is synthesised once per track."""
    notes: dict[tuple[float, int], np.ndarray] = {}

    def play(freq: float, n: int) -> np.ndarray:
        if (freq, n) not in notes:
            notes[freq, n] = instrument(freq, n)
        return notes[freq, n]

    return play


def _add(buf: np.ndarray, start: int, sig: np.ndarray, gain: float, pan: float) -> None:
    end = min(len(buf), start + len(sig))
    if end > start:
        part = sig[: end - start] * gain
        buf[start:end, 0] += part * (1 - pan)
        buf[start:end, 1] += part * (1 + pan)


def _drum_loop(rng: np.random.Generator) -> list[tuple[str, int, float]]:
    """(voice, sixteenth step within 2 bars, velocity)."""
    hits = []
    for step in range(32):
        if step % 8 == 0 or rng.random() < 0.12:
            hits.append(("kick", step, 1.0))
        if step % 8 == 4 or (step % 8 == 7 and rng.random() < 0.2):
            hits.append(("snare", step, 0.8))
        if step % 2 == 0 or rng.random() < 0.35:
            hits.append(("hat", step, 0.3 + 0.3 * rng.random()))
    return hits


def _drum_voice(name: str, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * SR)
    t = np.arange(n) / SR
    if name == "kick":
        f0 = 45 + 20 * rng.random()
        phase = 2 * np.pi * (f0 * t + 90 * (1 - np.exp(-t * 30)) / 30)
        return np.sin(phase) * np.exp(-t * 9)
    noise = rng.standard_normal(n)
    if name == "snare":
        return (0.6 * noise + np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 18)
    return np.diff(noise, prepend=0) * np.exp(-t * 60)  # hat: differentiated noise is bright


def _phrase(rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """A 4-bar lead phrase: (sixteenth step, scale degree, length in sixteenths)."""
    return [
        (int(s), int(rng.integers(0, 10)), int(rng.choice([1, 2, 2, 4]))) for s in range(0, 64, 2) if rng.random() < 0.7
    ]


def render(spec: BeatSpec) -> np.ndarray:
    """Stereo float32 at 44.1 kHz, peak -1 dBFS."""
    rng = np.random.default_rng(spec.seed)
    drng = np.random.default_rng(spec.drum_seed)
    n = int(spec.duration_s * SR)
    buf = np.zeros((n, 2))
    step = 60.0 / spec.bpm / 4  # a sixteenth
    bar = 16 * step
    scale = SCALES[spec.scale]
    degrees = rng.choice([0, 3, 4, 5, 1, 2], size=4)  # a 4-bar progression
    phrase = _phrase(rng)
    if spec.phrase_seed is not None:
        phrase = _phrase(np.random.default_rng(spec.phrase_seed))
    lead, pad, bass = (_cached(_instrument(rng.choice(names))) for names in (MELODY, PADS, BASS))
    voices = {v: _drum_voice(v, drng) for v in ("kick", "snare", "hat")}
    loop = _drum_loop(drng)
    intro_bars = 2 + spec.drum_seed % 3  # drums only
    n_bars = int(spec.duration_s / bar) + 1
    for b in range(n_bars):
        t0 = b * bar
        for voice, s, vel in loop:
            if (s // 16) == b % 2:
                _add(buf, int((t0 + (s % 16) * step) * SR), voices[voice], 0.5 * vel, 0.0)
        if b < intro_bars or spec.drums_only:
            continue
        chord_root = spec.root + 48 + scale[degrees[b % 4] % 7]
        for k, off in enumerate((0, 2, 4)):
            deg = degrees[b % 4] + off
            midi = spec.root + 60 + scale[deg % 7] + 12 * (deg // 7)
            _add(buf, int(t0 * SR), pad(_hz(midi), int(bar * SR)), 0.06, -0.3 + 0.3 * k)
        for s in range(0, 16, 4 if spec.seed % 2 else 2):
            _add(buf, int((t0 + s * step) * SR), bass(_hz(chord_root - 12), int(1.8 * step * SR)), 0.25, 0.0)
        variation = np.random.default_rng(spec.seed * 1000 + b // 4)  # repeats vary a little
        for s, deg, length in phrase:
            if (s // 16) != b % 4 or variation.random() < 0.1:
                continue
            midi = spec.root + 72 + scale[deg % 7] + 12 * (deg // 7)
            _add(buf, int((t0 + (s % 16) * step) * SR), lead(_hz(midi), int(length * step * SR)), 0.15, 0.25)
    return (buf / np.abs(buf).max() * 10 ** (-1 / 20)).astype(np.float32)
