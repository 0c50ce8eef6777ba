"""Shared evaluation audio, generated once per session (the expensive part of the suite)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))  # beat_synth, beat_transforms, fingerprint_env (tests are not a package)

import beat_synth as synth
import beat_transforms as transforms

from beatpass_fingerprint.chroma import AudioPrint, analyse

N_TRACKS = 4


def wav_bytes(x: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format="WAV")
    return buf.getvalue()


def print_of(data: bytes) -> AudioPrint:
    return analyse(io.BytesIO(data), shift_peaks=True)


@dataclass
class EvalSet:
    originals: dict[str, bytes] = field(default_factory=dict)  # name -> 16-bit WAV
    positives: list[tuple[str, str, bytes]] = field(default_factory=list)  # (transformation, original, WAV)
    shifted: list[tuple[str, str, bytes]] = field(default_factory=list)  # (beat_transforms.SHIFTS name, original, WAV)
    negatives: list[tuple[str, str, bytes]] = field(default_factory=list)  # (kind, unrelated indexed track, WAV)
    _prints: dict[bytes, AudioPrint] = field(default_factory=dict)

    def print(self, data: bytes) -> AudioPrint:
        key = data[:64] + len(data).to_bytes(8, "little") + data[len(data) // 2 : len(data) // 2 + 4096]
        if key not in self._prints:
            self._prints[key] = print_of(data)
        return self._prints[key]


def build_evalset(n_tracks: int = N_TRACKS, seed0: int = 0, shifts=transforms.SHIFT_SLICE) -> EvalSet:
    """Originals and their transformations (must be duplicates) and ``shifts`` of them (must be
    found, in review at least); beats on the same drum loop, the bare loop repeated, the same
    producer's re-arrangement, beats in the same key and tempo and unrelated beats (must stay
    ready against the originals)."""
    ev = EvalSet()
    for i in range(seed0, seed0 + n_tracks):
        spec = synth.random_spec(i)
        ev.originals[f"beat{i}"] = wav_bytes(synth.render(spec), synth.SR)
        x, sr = sf.read(io.BytesIO(ev.originals[f"beat{i}"]), dtype="float32")
        for name in transforms.TRANSFORMS:
            y, rate, subtype = transforms.apply(name, x, sr)
            ev.positives.append((name, f"beat{i}", wav_bytes(y, rate, subtype)))
        for name in shifts:
            y, rate = transforms.apply_shift(name, x, sr)
            ev.shifted.append((name, f"beat{i}", wav_bytes(y, rate)))
        ev.negatives.append(
            ("same_drum_loop", f"beat{i}", wav_bytes(synth.render(synth.same_drums(spec, 500 + i)), synth.SR))
        )
        ev.negatives.append(
            ("drum_loop_only", f"beat{i}", wav_bytes(synth.render(synth.drum_loop_only(spec)), synth.SR))
        )
        ev.negatives.append(
            ("different_track", f"beat{i}", wav_bytes(synth.render(synth.random_spec(900 + i)), synth.SR))
        )
        ev.negatives.append(
            ("rearranged", f"beat{i}", wav_bytes(synth.render(synth.rearranged(spec, 800 + i)), synth.SR))
        )
        ev.negatives.append(
            ("same_key_tempo", f"beat{i}", wav_bytes(synth.render(synth.same_key_and_tempo(spec, 700 + i)), synth.SR))
        )
    return ev


@pytest.fixture(scope="session")
def evalset() -> EvalSet:
    return build_evalset()
