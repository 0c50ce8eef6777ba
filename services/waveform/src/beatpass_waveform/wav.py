"""A streaming WAV reader: walks RIFF/RF64 chunks on any readable stream, decodes fixed-size blocks.

It reads forwards only (an S3 object stream cannot seek, which rules out libsndfile on it) and
hands out each block as 16-bit frames converted the way BBC audiowaveform sees them: it reads
integer PCM through libsndfile's ``sf_readf_short`` (which keeps the top 16 bits, i.e. floors)
and float data as ``float * 32767`` truncated towards zero.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_SUPPORTED = {(PCM, 16), (PCM, 24), (PCM, 32), (IEEE_FLOAT, 32), (IEEE_FLOAT, 64)}
_SKIP_PIECE = 1024 * 1024
_MAX_FMT_BYTES = 4096  # fmt is 16-40 bytes; anything far larger is not a WAV we wrote or accepted
_SHORT_MAX = np.float32(32767)


class UndecodableAudio(Exception):
    """The audio cannot be read; validation passed it, so this is ours to retry and report."""


@dataclass(frozen=True)
class WavFormat:
    sample_rate: int
    channels: int
    bits: int
    is_float: bool
    data_bytes: int | None  # None: a streaming header (size 0 or 0xFFFFFFFF); the data runs to the end

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def frames(self) -> int | None:
        if self.data_bytes is None:
            return None
        return self.data_bytes // self.block_align  # a trailing partial frame is ignored, as libsndfile does


class WavReader:
    """Positioned at the start of the data chunk after construction.

    ``blocks`` yields int16 arrays of shape (frames, channels) that may share one reused buffer:
    use each block before asking for the next.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.format = _read_header(stream)

    def blocks(self, frames_per_block: int) -> Iterator[np.ndarray]:
        fmt = self.format
        buffer = bytearray(frames_per_block * fmt.block_align)  # reused: memory stays flat
        left = fmt.frames
        while left is None or left:
            n = frames_per_block if left is None else min(left, frames_per_block)
            view = memoryview(buffer)[: n * fmt.block_align]
            got = _read_into(self._stream, view)
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


def _read_header(stream: BinaryIO) -> WavFormat:
    riff = _read_exact(stream, 12, "RIFF header")
    kind, _size, wave = struct.unpack("<4sI4s", riff)
    if kind not in (b"RIFF", b"RF64", b"BW64") or wave != b"WAVE":
        raise UndecodableAudio("not a RIFF/RF64 WAVE file")
    ds64_data_size = None
    fmt = None
    while True:
        chunk_id, size = struct.unpack("<4sI", _read_exact(stream, 8, "chunk header"))
        if chunk_id == b"data":
            if fmt is None:
                raise UndecodableAudio("data chunk before fmt chunk")
            if kind != b"RIFF" and size == 0xFFFFFFFF:
                if ds64_data_size is None:
                    raise UndecodableAudio("RF64 file without a ds64 chunk")
                size = ds64_data_size
            # 0 or 0xFFFFFFFF is a recorder's streaming header: validation accepted it as
            # "the data runs to the end of the file", so read it that way too.
            return WavFormat(*fmt, data_bytes=None if size in (0, 0xFFFFFFFF) else size)
        if chunk_id == b"ds64":
            body = _read_exact(stream, size, "ds64 chunk")
            ds64_data_size = struct.unpack_from("<Q", body, 8)[0]
        elif chunk_id == b"fmt ":
            if size > _MAX_FMT_BYTES:
                raise UndecodableAudio(f"fmt chunk of {size} bytes")
            fmt = _parse_fmt(_read_exact(stream, size, "fmt chunk"))
        else:
            _skip(stream, size)
        if size & 1:
            _skip(stream, 1)  # chunks are padded to an even length


def _parse_fmt(body: bytes) -> tuple[int, int, int, bool]:
    if len(body) < 16:
        raise UndecodableAudio("fmt chunk too short")
    tag, channels, sample_rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == EXTENSIBLE:
        if len(body) < 26:
            raise UndecodableAudio("WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if (tag, bits) not in _SUPPORTED:
        raise UndecodableAudio(f"unsupported sample format {tag:#06x} with {bits} bits")
    if channels < 1 or sample_rate < 1 or block_align != channels * bits // 8:
        raise UndecodableAudio(f"inconsistent fmt chunk: {channels} channels, block align {block_align}")
    return sample_rate, channels, bits, tag == IEEE_FLOAT


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


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    data = bytearray(size)
    if _read_into(stream, memoryview(data)) < size:
        raise UndecodableAudio(f"file ends inside the {what}")
    return bytes(data)


def _skip(stream: BinaryIO, size: int) -> None:
    while size:
        piece = stream.read(min(size, _SKIP_PIECE))
        if not piece:
            raise UndecodableAudio("file ends inside a chunk")
        size -= len(piece)
