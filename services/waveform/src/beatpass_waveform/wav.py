"""Audio as audiowaveform sees it, in fixed-size blocks (the container walk: beatpass_common.wav).

It reads forwards only (an S3 object stream cannot seek, which rules out libsndfile on it) and
hands out each block as 16-bit frames converted the way BBC audiowaveform sees them: it reads
integer PCM through libsndfile's ``sf_readf_short`` (which keeps the top 16 bits, i.e. floors)
and float data as ``float * 32767`` truncated towards zero.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

import numpy as np

from beatpass_common.wav import WavError, WavFormat, read_header, read_into

_SUPPORTED = {(False, 16), (False, 24), (False, 32), (True, 32), (True, 64)}
_SHORT_MAX = np.float32(32767)

class UndecodableAudio(WavError):
    """The audio cannot be read; validation passed it, so this is ours to retry and report."""


class WavReader:
    """Positioned at the start of the data chunk after construction.

    ``blocks`` yields int16 arrays of shape (frames, channels) that may share one reused buffer:
    use each block before asking for the next.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        try:
            self.format = read_header(stream)
        except WavError as exc:
            raise UndecodableAudio(str(exc)) from None
        if (self.format.is_float, self.format.bits) not in _SUPPORTED:
            raise UndecodableAudio(f"unsupported sample format with {self.format.bits} bits")

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
                    yield _to_int16(view[: n * fmt.block_align], fmt).reshape(n, fmt.channels)
                if got < len(view):
                    return
                continue
            if got < len(view):
                raise UndecodableAudio(f"data chunk ends {left} frames early")
            left -= n
            yield _to_int16(view, fmt).reshape(n, fmt.channels)


def _to_int16(raw: memoryview, fmt: WavFormat) -> np.ndarray:
    if fmt.is_float:
        values = np.frombuffer(raw, "<f4" if fmt.bits == 32 else "<f8").astype(np.float32, copy=False)
        # audiowaveform multiplies in single precision and truncates; values outside [-1, 1] are
        # undefined behaviour in its C++ cast, so they are clamped here (NaN counts as silence).
        scaled = np.nan_to_num(np.trunc(values * _SHORT_MAX), nan=0.0)
        return np.clip(scaled, -32768, 32767).astype(np.int16)
    if fmt.bits == 16:
        return np.frombuffer(raw, "<i2")
    if fmt.bits == 24:
        # The top two bytes of a little-endian 24-bit sample are its value floored to 16 bits.
        return np.frombuffer(raw, np.uint8).reshape(-1, 3)[:, 1:].copy().view("<i2").reshape(-1)
    return np.frombuffer(raw, "<i2")[1::2]  # 32-bit: the high half, again floored
