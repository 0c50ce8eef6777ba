"""Test WAVs built byte by byte, so every header variant the reader must walk can be produced."""

from __future__ import annotations

import struct

import numpy as np
import pytest

_EXTENSIBLE_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # rest of the KSDATAFORMAT GUID


def wav_bytes(
    samples: np.ndarray,
    sample_rate: int = 44_100,
    *,
    bits: int = 16,
    is_float: bool = False,
    extensible: bool = False,
    rf64: bool = False,
    chunks: tuple[tuple[bytes, bytes], ...] = (),
) -> bytes:
    """``samples`` (frames, channels) already in the file's sample type; 24-bit takes int32 values."""
    samples = np.asarray(samples)
    channels = samples.shape[1]
    if is_float:
        data = samples.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 24:
        data = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        data = samples.astype(f"<i{bits // 8}").tobytes()
    tag = 3 if is_float else 1
    block_align = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 0xFFFE if extensible else tag, channels, sample_rate, sample_rate * block_align, block_align, bits
    )
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + _EXTENSIBLE_TAIL
    body = _chunk(b"fmt ", fmt) + b"".join(_chunk(cid, payload) for cid, payload in chunks)
    if rf64:
        ds64 = struct.pack("<QQQI", 0, len(data), len(samples), 0)
        return (
            b"RF64"
            + struct.pack("<I", 0xFFFFFFFF)
            + b"WAVE"
            + _chunk(b"ds64", ds64)
            + body
            + b"data"
            + struct.pack("<I", 0xFFFFFFFF)
            + data
        )
    body += _chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _chunk(chunk_id: bytes, payload: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")


@pytest.fixture
def make_wav():
    return wav_bytes
