"""The evaluation's transformations of a track: what a re-upload of the same audio looks like,
and (``SHIFTS``) what a re-upload pitch-shifted, slowed or sped up looks like."""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from beat_synth import SR


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def mp3_round_trip(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        wav, mp3, back = (str(Path(tmp) / n) for n in ("in.wav", "in.mp3", "out.wav"))
        sf.write(wav, x, sr, subtype="PCM_16")
        _run("lame", "--quiet", "-b", "128", wav, mp3)
        _run("lame", "--quiet", "--decode", mp3, back)
        y, sr = sf.read(back, dtype="float32")
    return y, sr


def resample_48k(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = str(Path(tmp) / "in.wav"), str(Path(tmp) / "out.wav")
        sf.write(src, x, sr, subtype="FLOAT")
        _run("sox", src, "-r", "48000", dst)
        y, sr = sf.read(dst, dtype="float32")
    return y, sr


def producer_tag(
    x: np.ndarray, sr: int, text: str = "Beat Pass. Produced by Night Owl. Night Owl on the beat"
) -> tuple[np.ndarray, int]:
    """A loud spoken tag over the first seconds, as producers stamp their beats."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, tag = str(Path(tmp) / "tag.wav"), str(Path(tmp) / "tag44.wav")
        _run("espeak-ng", "-w", raw, text)
        _run("sox", raw, "-r", str(sr), tag)
        voice, _ = sf.read(tag, dtype="float32")
    voice = voice / np.abs(voice).max() * 0.8
    y = x.copy()
    y[: len(voice)] = y[: len(voice)] * 0.6 + voice[:, None]
    return y / max(1.0, np.abs(y).max()), sr


def noise_30db(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(30)
    power = float(np.mean(x.astype(np.float64) ** 2)) / 10 ** (30 / 10)
    return (x + rng.standard_normal(x.shape) * np.sqrt(power)).astype(np.float32), sr


# name -> (function of (samples, rate), WAV subtype to write)
TRANSFORMS = {
    "mp3_128k": (mp3_round_trip, "PCM_16"),
    "gain_-6db": (lambda x, sr: (x * 10 ** (-6 / 20), sr), "PCM_16"),
    "trim_first_7s": (lambda x, sr: (x[7 * sr :], sr), "PCM_16"),
    "resample_48k": (resample_48k, "PCM_16"),
    "mono_mixdown": (lambda x, sr: (x.mean(axis=1), sr), "PCM_16"),
    "noise_30db_snr": (noise_30db, "PCM_16"),
    "pcm24_reencode": (lambda x, sr: (x, sr), "PCM_24"),
    "producer_tag": (producer_tag, "PCM_16"),
    "excerpt_45s": (lambda x, sr: (x[10 * sr : 55 * sr], sr), "PCM_16"),
}


def apply(name: str, x: np.ndarray, sr: int = SR) -> tuple[np.ndarray, int, str]:
    fn, subtype = TRANSFORMS[name]
    y, rate = fn(x, sr)
    return y, rate, subtype


def sox_effect(x: np.ndarray, sr: int, effect: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """``sox in.wav -b 16 out.wav <effect...>`` (16-bit out, as an upload would be)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = str(Path(tmp) / "in.wav"), str(Path(tmp) / "out.wav")
        sf.write(src, x, sr, subtype="FLOAT")
        _run("sox", src, "-b", "16", dst, *effect)
        y, rate = sf.read(dst, dtype="float32")
    return y, rate


def _pitch(semitones: float) -> tuple[str, ...]:
    return ("pitch", f"{semitones * 100:.0f}")


def _tempo(ratio: float) -> tuple[str, ...]:  # -m: sox's setting for music
    return ("tempo", "-m", f"{ratio}")


def _speed(ratio: float) -> tuple[str, ...]:  # pitch and tempo together, back at 44.1 kHz
    return ("speed", f"{ratio}", "rate", str(SR))


def _shift(name: str, *parts: tuple[str, tuple[str, ...]]) -> tuple[str, tuple[tuple[str, ...], float, float]]:
    """name -> (sox effect, expected pitch in semitones, expected tempo ratio), from (kind, args) parts."""
    effect, pitch, tempo = (), 0.0, 1.0
    for kind, value in parts:
        v = float(value)
        effect += {"pitch": _pitch, "tempo": _tempo, "speed": _speed}[kind](v)
        if kind == "pitch":
            pitch += v
        elif kind == "tempo":
            tempo *= v
        else:
            pitch, tempo = pitch + 12 * math.log2(v), tempo * v
    return name, (effect, round(pitch, 3), round(tempo, 4))


# name -> (sox effect, the copy's pitch minus the original's in semitones, its tempo / the original's)
SHIFTS = dict(
    [
        *(_shift(f"pitch_{p:+g}st", ("pitch", p)) for p in (-2, -1, -0.5, 0.5, 1, 2)),
        *(_shift(f"tempo_{t:g}", ("tempo", t)) for t in (0.92, 0.95, 0.97, 1.03, 1.05, 1.08)),
        *(_shift(f"speed_{v:g}", ("speed", v)) for v in (0.94, 0.97, 1.03, 1.06)),
        _shift("pitch_+1.5st_tempo_0.94", ("pitch", 1.5), ("tempo", 0.94)),
        _shift("pitch_-2st_tempo_1.08", ("pitch", -2), ("tempo", 1.08)),
        _shift("speed_1.06_pitch_+2st", ("speed", 1.06), ("pitch", 2)),
        _shift("speed_0.95_tempo_0.95", ("speed", 0.95), ("tempo", 0.95)),
    ]
)
# The fixed slice the unit tests run (the benchmark runs them all).
SHIFT_SLICE = ("pitch_+1st", "tempo_0.95", "speed_1.03", "pitch_-2st_tempo_1.08")


def apply_shift(name: str, x: np.ndarray, sr: int = SR) -> tuple[np.ndarray, int]:
    return sox_effect(x, sr, SHIFTS[name][0])
