"""A quick look at an uploaded file's WAV header at save time: is it WAV, and how long is it.

Only the header chunks are read (ranged reads), never the audio; the validation service decodes
the whole file later. The duration is what upload minutes are reserved against.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

MAX_CHUNKS = 64


@dataclass(frozen=True)
class WavHeader:
    sample_rate: int
    channels: int
    bits_per_sample: int
    block_align: int
    data_size: int

    @property
    def duration_s(self) -> float:
        return self.data_size / (self.sample_rate * self.block_align) if self.sample_rate and self.block_align else 0.0


def read_wav_header(read: Callable[[int, int], bytes], size: int) -> WavHeader | None:
    """``read(offset, length)`` gives bytes of the object; returns None when it is not WAV/RF64."""
    head = read(0, min(size, 12))
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64"):
        return None
    rf64 = head[:4] == b"RF64"
    pos, fmt, data_size, ds64_data = 12, None, None, None
    for _ in range(MAX_CHUNKS):
        if pos + 8 > size:
            break
        chunk_id, chunk_size = struct.unpack("<4sI", read(pos, 8))
        if chunk_id == b"ds64" and rf64:
            ds64_data = struct.unpack("<Q", read(pos + 16, 8))[0]
        elif chunk_id == b"fmt ":
            raw = read(pos + 8, 16)
            if len(raw) < 16:
                return None
            _tag, channels, rate, _byte_rate, align, bits = struct.unpack("<HHIIHH", raw)
            fmt = (channels, rate, align, bits)
        elif chunk_id == b"data":
            declared = ds64_data if (rf64 and chunk_size == 0xFFFFFFFF and ds64_data) else chunk_size
            # A streaming header (0 or 0xFFFFFFFF) or a size past the end: count what is there.
            available = size - (pos + 8)
            data_size = available if declared in (0, 0xFFFFFFFF) or declared > available else declared
            break
        pos += 8 + chunk_size + (chunk_size & 1)
    if fmt is None or data_size is None:
        return None
    channels, rate, align, bits = fmt
    return WavHeader(sample_rate=rate, channels=channels, bits_per_sample=bits, block_align=align,
                     data_size=data_size)


def sniff_image(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None
