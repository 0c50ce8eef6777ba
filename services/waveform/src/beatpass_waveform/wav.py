"""Audio as audiowaveform sees it, in fixed-size blocks (the container and samples: the common
reader, beatpass_common.wav).

It reads forwards only (an S3 object stream cannot seek) and hands out each block as 16-bit
frames converted the way BBC audiowaveform sees them: it reads integer PCM through libsndfile's
``sf_readf_short`` (the top 16 bits of the left-justified sample, i.e. floored) and float data
as ``float * 32767`` truncated towards zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from beatpass_common.errors import Unreadable
from beatpass_common.wav import WavError, WavInfo, read_info, read_into, samples_float32, samples_int32

_SHORT_MAX = np.float32(32767)


class WavReader:
    """Positioned at the start of the data chunk after construction.

    ``blocks`` yields int16 arrays of shape (frames, channels) that may share one reused buffer:
    use each block before asking for the next. Raises ``Unreadable`` (validation accepted the
    file, so retrying cannot help) when the common reader refuses it or the data ends early.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        try:
            self.format = read_info(stream)
        except WavError as exc:
            raise Unreadable(f"waveform cannot read the audio: {exc}") from exc
        if reason := self.format.undecodable():
            raise Unreadable(f"waveform cannot decode the audio: {reason}")

    def blocks(self, frames_per_block: int) -> Iterator[np.ndarray]:
        fmt = self.format
        buffer = bytearray(frames_per_block * fmt.block_align)  # reused: memory stays flat
        left = fmt.frames
        while left is None or left:
            n = frames_per_block if left is None else min(left, frames_per_block)
            view = memoryview(buffer)[: n * fmt.block_align]
            got = read_into(self._stream, view)
            if left is None:  # streaming header: whole frames up to the end of the file
                n = got // fmt.block_align
                if n:
                    yield _to_int16(view[: n * fmt.block_align], fmt)
                if got < len(view):
                    return
                continue
            if got < len(view):
                raise Unreadable(f"waveform cannot read the audio: the data chunk ends {left} frames early")
            left -= n
            yield _to_int16(view, fmt)


def _to_int16(raw: memoryview, fmt: WavInfo) -> np.ndarray:
    if fmt.is_float:
        values = samples_float32(raw, fmt)
        # audiowaveform multiplies in single precision and truncates; values outside [-1, 1] are
        # undefined behaviour in its C++ cast, so they are clamped here (NaN counts as silence).
        scaled = np.nan_to_num(np.trunc(values * _SHORT_MAX), nan=0.0)
        return np.clip(scaled, -32768, 32767).astype(np.int16)
    return (samples_int32(raw, fmt) >> 16).astype(np.int16)
