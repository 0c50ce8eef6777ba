"""Whole-track Chromaprint fingerprint and exact PCM hash, streamed from the object store.

Each block is read once and used as it is (24-bit PCM is widened to 32 bits, as FFmpeg decodes it):
the exact hash (``exact.ExactHash``) takes it, and libswresample turns it into what fpcalc feeds
Chromaprint, mono 16-bit at 11025 Hz (``resample.py``), so the fingerprint is fpcalc's. The raw
fingerprint is one 32-bit sub-fingerprint per 1365 samples at 11025 Hz (~0.124 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import chromaprint
import numpy as np

from beatpass_common.wav import WavError, iter_frames, samples_int32

from .cqt_peaks import Decimator, Peaks, peaks_of
from .exact import ExactHash, LegacyHash
from .resample import TARGET_RATE, Resampler
from .wav import open_wav

ITEM_S = 1365 / 11025  # seconds per sub-fingerprint
# Chromaprint refuses rates up to 1000 Hz, and its resampler's setup grows with the rate (at
# 2**31 Hz it does not finish): above 768 kHz, the highest rate any audio interface runs at,
# the header is not believed.
MIN_RATE_HZ, MAX_RATE_HZ = 1001, 768_000


@dataclass(frozen=True)
class AudioPrint:
    pcm_hash: str  # the exact hash, scheme exact.SCHEME
    duration_s: float
    fingerprint: np.ndarray  # uint32 sub-fingerprints
    legacy_hash: str | None = None  # scheme 1, when asked for (old index rows hold it)
    peaks: Peaks | None = None  # the shift-robust print's constant-Q peaks (cqt_peaks.py), when asked for

    def fingerprint_bytes(self) -> bytes:
        return self.fingerprint.astype("<u4").tobytes()


def fingerprint_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<u4").astype(np.uint32)


def analyse(stream: BinaryIO, *, legacy_hash: bool = False, shift_peaks: bool = False) -> AudioPrint:
    """Decode ``stream`` (a WAV) block by block into the Chromaprint fingerprint and exact hash
    (and the scheme-1 hash too with ``legacy_hash``, at about twice the cost of the hash; and with
    ``shift_peaks`` the shift-robust print's peaks, from the same resampled samples Chromaprint gets).

    The fingerprint may be empty (audio shorter than about 3 s gives Chromaprint nothing to
    print). Raises ``WavError`` for what cannot be decoded or fingerprinted (see MIN_RATE_HZ).
    """
    fmt = open_wav(stream)
    if not MIN_RATE_HZ <= fmt.sample_rate <= MAX_RATE_HZ:
        raise WavError(f"cannot fingerprint audio at {fmt.sample_rate} Hz")
    exact, legacy = ExactHash(fmt), LegacyHash(fmt) if legacy_hash else None
    printer = chromaprint.Fingerprinter()
    printer.start(TARGET_RATE, 1)
    resampler = Resampler(fmt)
    decimator = Decimator() if shift_peaks else None
    widen = not fmt.is_float and fmt.bits == 24
    size = 0
    try:
        for block in iter_frames(stream, fmt):
            exact.update(block)
            if legacy is not None:
                legacy.update(block)
            pcm = resampler.convert(samples_int32(block, fmt) if widen else block)
            printer.feed(pcm)
            if decimator is not None:
                decimator.feed(pcm)
            size += len(block)
        pcm = resampler.flush()
        printer.feed(pcm)
        if decimator is not None:
            decimator.feed(pcm)
    finally:
        resampler.close()
    raw, _algorithm = chromaprint.decode_fingerprint(printer.finish())
    return AudioPrint(
        exact.hexdigest(),
        size // fmt.block_align / fmt.sample_rate,
        np.asarray(raw, dtype=np.uint32),
        legacy_hash=legacy.hexdigest() if legacy is not None else None,
        peaks=peaks_of(decimator.finish()) if decimator is not None else None,
    )
