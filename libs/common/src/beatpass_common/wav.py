"""Forward-only reading of WAV containers (RIFF, RF64, BW64) from any readable stream.

An object-store body cannot seek, so chunks are skipped by reading and the data chunk is read
front to back. Services that decode audio after validation accepted it (waveform, fingerprint)
share this; each converts the samples its own way. A streaming header (data size 0 or
0xFFFFFFFF, or an RF64 size table that leaves it open) means "the data runs to the end".
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_UNKNOWN_SIZE = 0xFFFFFFFF
_SKIP_PIECE = 1024 * 1024
_MAX_FMT_BYTES = 4096  # fmt is 16-40 bytes; anything far larger is not a WAV anyone accepted


class WavError(ValueError):
    """The stream is not a WAV this reader can decode; the text says why."""


@dataclass(frozen=True)
class WavFormat:
    sample_rate: int
    channels: int
    bits: int
    is_float: bool
    data_bytes: int | None  # None: a streaming header; the data runs to the end of the stream

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def frames(self) -> int | None:
        if self.data_bytes is None:
            return None
        return self.data_bytes // self.block_align  # a trailing partial frame is ignored, as libsndfile does


@dataclass(frozen=True)
class WavLayout:
    """What the fmt chunk declares, unchecked, and where the data is."""

    tag: int  # PCM, IEEE_FLOAT or anything else a WAV may carry (after EXTENSIBLE is resolved)
    channels: int
    sample_rate: int
    bits: int
    block_align: int
    data_bytes: int | None  # None: a streaming header; the data runs to the end of the stream


def read_header(stream: BinaryIO) -> WavFormat:
    """Read up to the first byte of sample data and describe it; refuses what is not PCM/float."""
    layout = read_layout(stream)
    if layout.tag not in (PCM, IEEE_FLOAT) or layout.bits % 8 or not 8 <= layout.bits <= 64:
        raise WavError(f"unsupported sample format {layout.tag:#06x} with {layout.bits} bits")
    if layout.channels < 1 or layout.sample_rate < 1 or layout.block_align != layout.channels * layout.bits // 8:
        raise WavError(f"inconsistent fmt chunk: {layout.channels} channels, block align {layout.block_align}")
    return WavFormat(layout.sample_rate, layout.channels, layout.bits, layout.tag == IEEE_FLOAT, layout.data_bytes)


def read_layout(stream: BinaryIO) -> WavLayout:
    """Walk the chunks up to the first byte of sample data (a seekable stream skips by seeking)."""
    kind, _size, wave = struct.unpack("<4sI4s", read_exact(stream, 12, "RIFF header"))
    if kind not in (b"RIFF", b"RF64", b"BW64") or wave != b"WAVE":
        raise WavError("not a RIFF/RF64 WAVE file")
    fmt, ds64_data = None, None
    while True:
        chunk_id, size = struct.unpack("<4sI", read_exact(stream, 8, "chunk header"))
        if chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            if size == _UNKNOWN_SIZE and kind != b"RIFF":
                size = ds64_data or 0
            return WavLayout(*fmt, data_bytes=None if size in (0, _UNKNOWN_SIZE) else size)
        if chunk_id == b"fmt ":
            if size > _MAX_FMT_BYTES:
                raise WavError(f"fmt chunk of {size} bytes")
            fmt = _parse_fmt(read_exact(stream, size, "fmt chunk"))
        elif chunk_id == b"ds64":
            ds64_data = struct.unpack_from("<Q", read_exact(stream, size, "ds64 chunk"), 8)[0]
        else:  # metadata, possibly large: never held in memory
            skip(stream, size)
        if size & 1:
            skip(stream, 1)  # chunks are padded to an even length


def _parse_fmt(body: bytes) -> tuple[int, int, int, int, int]:
    if len(body) < 16:
        raise WavError("fmt chunk too short")
    tag, channels, sample_rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == EXTENSIBLE:
        if len(body) < 26:
            raise WavError("WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    return tag, channels, sample_rate, bits, block_align


def iter_frames(stream: BinaryIO, fmt: WavFormat, block_bytes: int = 1024 * 1024) -> Iterator[bytes]:
    """The sample data in whole frames, about ``block_bytes`` at a time, up to the data size or the
    end of the stream; a trailing partial frame is dropped."""
    block = max(1, block_bytes // fmt.block_align) * fmt.block_align
    remaining = fmt.data_bytes if fmt.data_bytes is not None else float("inf")
    carry = b""
    while remaining > 0:
        data = stream.read(int(min(block, remaining)))
        if not data:
            break
        remaining -= len(data)
        data = carry + data
        cut = len(data) - len(data) % fmt.block_align
        carry = data[cut:]
        if cut:
            yield data[:cut]


def read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` as far as the stream goes; returns the bytes read."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    parts, got = [], 0
    while got < size:  # read(), not readinto(): any object with read() is a stream here
        part = stream.read(size - got)
        if not part:
            raise WavError(f"file ends inside the {what}")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def skip(stream: BinaryIO, size: int) -> None:
    if getattr(stream, "seekable", lambda: False)():  # e.g. ranged reads of an object: jump over it
        stream.seek(size, io.SEEK_CUR)
        return
    while size:
        piece = stream.read(min(size, _SKIP_PIECE))
        if not piece:
            raise WavError("file ends inside a chunk")
        size -= len(piece)
