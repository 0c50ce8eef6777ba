"""Streaming WAV (RIFF, RF64/BW64) decoder over a non-seekable stream, in fixed-size blocks.

The object store hands us an HTTP body, so chunks are skipped by reading, never by seeking.
Validation has already accepted the file; anything we cannot decode here is our fault.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

BLOCK_BYTES = 1024 * 1024

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_UNKNOWN_SIZE = 0xFFFFFFFF


class WavError(ValueError):
    pass


@dataclass(frozen=True)
class WavFormat:
    float: bool
    bits: int
    channels: int
    sample_rate: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            raise WavError("unexpected end of file")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _skip(stream: BinaryIO, n: int) -> None:
    while n > 0:
        part = stream.read(min(n, BLOCK_BYTES))
        if not part:
            raise WavError("unexpected end of file")
        n -= len(part)


def _parse_fmt(body: bytes) -> WavFormat:
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT) or channels < 1 or rate < 1:
        raise WavError(f"unsupported WAV format tag {tag}")
    if (tag == _PCM and bits not in (8, 16, 24, 32)) or (tag == _FLOAT and bits not in (32, 64)):
        raise WavError(f"unsupported sample size {bits} bits")
    return WavFormat(tag == _FLOAT, bits, channels, rate)


def open_wav(stream: BinaryIO) -> tuple[WavFormat, int | None]:
    """Read headers up to the start of the sample data; returns the format and the data size in
    bytes (None when the header leaves it open: read to the end of the stream)."""
    riff, _size, wave = struct.unpack("<4sI4s", _read_exact(stream, 12))
    if riff not in (b"RIFF", b"RF64", b"BW64") or wave != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    fmt, ds64_data = None, None
    while True:
        chunk_id, size = struct.unpack("<4sI", _read_exact(stream, 8))
        if chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            if size == _UNKNOWN_SIZE:
                size = ds64_data
            return fmt, size or None  # size 0 is what streaming writers leave behind
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(_read_exact(stream, size))
        elif chunk_id == b"ds64":
            ds64_data = struct.unpack_from("<Q", _read_exact(stream, size), 8)[0]
        else:  # metadata, possibly large: never held in memory
            _skip(stream, size)
        if size % 2:
            _skip(stream, 1)


def iter_blocks(stream: BinaryIO, fmt: WavFormat, size: int | None) -> Iterator[bytes]:
    """The sample data in whole frames, ``BLOCK_BYTES`` at a time; a trailing partial frame is dropped."""
    block = max(1, BLOCK_BYTES // fmt.frame_bytes) * fmt.frame_bytes
    remaining = size if size is not None else float("inf")
    carry = b""
    while remaining > 0:
        data = stream.read(int(min(block, remaining)))
        if not data:
            break
        remaining -= len(data)
        data = carry + data
        cut = len(data) - len(data) % fmt.frame_bytes
        carry = data[cut:]
        if cut:
            yield data[:cut]


def to_float(data: bytes, fmt: WavFormat) -> np.ndarray:
    """Samples as float32 in [-1, 1), shape (frames, channels).

    16- and 24-bit values are exact in float32, so the same audio in a wider container decodes
    to the same numbers (what the exact hash relies on).
    """
    if fmt.float:
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
