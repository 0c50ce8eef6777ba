"""Whole-track Chromaprint fingerprint and exact PCM hash, streamed from the object store.

Chromaprint resamples internally to 11025 Hz; we give it mono 16-bit at the file's own rate.
The raw fingerprint is one 32-bit sub-fingerprint per 1365 samples at 11025 Hz (~0.124 s).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

import chromaprint
import numpy as np

from beatpass_common.wav import WavError, iter_frames

from .wav import open_wav, to_float

ITEM_S = 1365 / 11025  # seconds per sub-fingerprint
# Chromaprint refuses rates up to 1000 Hz, and its resampler's setup grows with the rate (at
# 2**31 Hz it does not finish): above 768 kHz, the highest rate any audio interface runs at,
# the header is not believed.
MIN_RATE_HZ, MAX_RATE_HZ = 1001, 768_000


@dataclass(frozen=True)
class AudioPrint:
    pcm_sha256: str
    duration_s: float
    fingerprint: np.ndarray  # uint32 sub-fingerprints

    def fingerprint_bytes(self) -> bytes:
        return self.fingerprint.astype("<u4").tobytes()


def fingerprint_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<u4").astype(np.uint32)


def _downmix(samples: np.ndarray) -> bytes:
    """Mono 16-bit PCM for Chromaprint, full scale clipped.

    Float samples beyond float32's range arrive as infinities, and opposite ones sum to NaN,
    whose conversion to an integer is undefined: NaN becomes 0 (silence), as in the waveform.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # both handled just below
        if samples.shape[1] == 2:  # the common case; twice as fast as the strided mean
            mono = (samples[:, 0] + samples[:, 1]) * 0.5
        else:
            mono = samples.mean(axis=1)
        scaled = np.rint(mono * 32767.0)
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=32767.0, neginf=-32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def analyse(stream: BinaryIO) -> AudioPrint:
    """Decode ``stream`` (a WAV) block by block into the Chromaprint fingerprint and PCM hash.

    The fingerprint may be empty (audio shorter than about 3 s gives Chromaprint nothing to
    print). Raises ``WavError`` for what cannot be decoded or fingerprinted (see MIN_RATE_HZ).
    """
    fmt = open_wav(stream)
    if not MIN_RATE_HZ <= fmt.sample_rate <= MAX_RATE_HZ:
        raise WavError(f"cannot fingerprint audio at {fmt.sample_rate} Hz")
    # The hash covers the decoded values plus what changes their meaning (rate, channel count),
    # not the container: header layout, metadata chunks and sample width do not matter.
    sha = hashlib.sha256(f"pcm-f32le:{fmt.sample_rate}:{fmt.channels}:".encode())
    printer = chromaprint.Fingerprinter()
    printer.start(fmt.sample_rate, 1)
    frames = 0
    for block in iter_frames(stream, fmt):
        samples = to_float(block, fmt)
        sha.update(samples)
        printer.feed(_downmix(samples))
        frames += len(samples)
    raw, _algorithm = chromaprint.decode_fingerprint(printer.finish())
    return AudioPrint(sha.hexdigest(), frames / fmt.sample_rate, np.asarray(raw, dtype=np.uint32))
