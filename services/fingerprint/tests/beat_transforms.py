"""The evaluation's transformations of a track: what a re-upload of the same audio looks like."""

from __future__ import annotations

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


def producer_tag(x: np.ndarray, sr: int, text: str = "Beat Pass. Produced by Night Owl. Night Owl on the beat") -> tuple[np.ndarray, int]:
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
    "trim_first_7s": (lambda x, sr: (x[7 * sr:], sr), "PCM_16"),
    "resample_48k": (resample_48k, "PCM_16"),
    "mono_mixdown": (lambda x, sr: (x.mean(axis=1), sr), "PCM_16"),
    "noise_30db_snr": (noise_30db, "PCM_16"),
    "pcm24_reencode": (lambda x, sr: (x, sr), "PCM_24"),
    "producer_tag": (producer_tag, "PCM_16"),
    "excerpt_45s": (lambda x, sr: (x[10 * sr: 55 * sr], sr), "PCM_16"),
}


def apply(name: str, x: np.ndarray, sr: int = SR) -> tuple[np.ndarray, int, str]:
    fn, subtype = TRANSFORMS[name]
    y, rate = fn(x, sr)
    return y, rate, subtype
