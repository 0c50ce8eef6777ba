"""Samples as the fingerprint sees them: float32 in [-1, 1), from the shared forward-only WAV
reader (beatpass_common.wav) so S3 streams decode without seeking."""

from __future__ import annotations

import numpy as np

from beatpass_common.wav import WavError, WavFormat, read_header

_SUPPORTED = {(False, 8), (False, 16), (False, 24), (False, 32), (True, 32), (True, 64)}


def open_wav(stream) -> WavFormat:
    """Read the header up to the sample data; refuses sample formats ``to_float`` cannot decode."""
    fmt = read_header(stream)
    if (fmt.is_float, fmt.bits) not in _SUPPORTED:
        raise WavError(f"unsupported sample size {fmt.bits} bits")
    return fmt


def to_float(data: bytes, fmt: WavFormat) -> np.ndarray:
    """Samples as float32 in [-1, 1), shape (frames, channels).

    16- and 24-bit values are exact in float32, so the same audio in a wider container decodes
    to the same numbers (what the exact hash relies on).
    """
    if fmt.is_float:
        samples = np.frombuffer(data, "<f4" if fmt.bits == 32 else "<f8").astype(np.float32, copy=False)
    elif fmt.bits == 8:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif fmt.bits == 16:
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif fmt.bits == 24:
        wide = np.zeros((len(data) // 3, 4), np.uint8)
        wide[:, 1:] = np.frombuffer(data, np.uint8).reshape(-1, 3)  # left-justify into int32
        samples = wide.view("<i4").ravel().astype(np.float32) / 2.0**31
    else:
        samples = np.frombuffer(data, "<i4").astype(np.float32) / 2.0**31
    return samples.reshape(-1, fmt.channels)
