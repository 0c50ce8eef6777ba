"""Samples as the fingerprint sees them: float32 in [-1, 1), from the common forward-only WAV
reader (beatpass_common.wav) so S3 streams decode without seeking."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from beatpass_common.errors import Unreadable
from beatpass_common.wav import WavError, WavInfo, read_info, samples_float32


def open_wav(stream: BinaryIO) -> WavInfo:
    """Read the header up to the sample data. Raises ``Unreadable`` (validation accepted the file,
    so retrying cannot help) when the common reader refuses it or cannot decode its samples."""
    try:
        info = read_info(stream)
    except WavError as exc:
        raise Unreadable(f"fingerprint cannot read the audio: {exc}") from exc
    if reason := info.undecodable():
        raise Unreadable(f"fingerprint cannot decode the audio: {reason}")
    return info


def to_float(data: bytes, fmt: WavInfo) -> np.ndarray:
    """Samples as float32 in [-1, 1), shape (frames, channels), exactly as libsndfile's
    ``sf_readf_float`` gives them. 16- and 24-bit values are exact in float32, so the same audio
    in a wider container decodes to the same numbers (what the exact hash relies on)."""
    return samples_float32(data, fmt)
