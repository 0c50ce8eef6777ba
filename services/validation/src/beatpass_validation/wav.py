"""RIFF/WAVE and RF64 header parsing, tolerant of what real writers do.

Only chunk headers (and the small fmt/ds64 bodies) are read, through ``read_at(offset, length)``
(a ranged object read), so a junk chunk of any size costs nothing and the audio itself is then
streamed from the data chunk by ``decode``. Tolerated: odd-sized chunks with their pad byte,
metadata chunks (LIST, bext, iXML, JUNK, ...) anywhere, WAVE_FORMAT_EXTENSIBLE, a wrong RIFF size,
and 0/0xFFFFFFFF data sizes from streaming writers (the data then runs to the end of the file).
A data size larger than the file is kept as declared so the rules can report the truncation.

Two spec violations are recognised but refused, with a precise message, because the streaming
readers after validation (waveform, fingerprint) read forwards and cannot follow them: a missing
pad byte after an odd-sized chunk, and a fmt chunk after the data chunk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from beatpass_common.events import Problem

from . import rules

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_* suffix
_UNKNOWN_SIZE = (0, 0xFFFFFFFF)
MAX_CHUNKS = 1024  # beyond this the file is not a WAV any tool wrote

ReadAt = Callable[[int, int], bytes]


class WavError(Exception):
    """The header cannot be used; ``problems`` say why in producer terms."""

    def __init__(self, *problems: Problem):
        super().__init__("; ".join(p.code for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class WavHeader:
    container: str  # "WAV" or "RF64"
    format_tag: int  # after resolving WAVE_FORMAT_EXTENSIBLE
    channels: int
    sample_rate: int
    bits: int  # container bits per sample
    block_align: int
    data_offset: int
    data_bytes: int  # whole frames present in the file
    declared_bytes: int | None  # what the header claimed; None for streaming (unknown) sizes

    @property
    def encoding(self) -> str | None:
        return {PCM: "pcm", IEEE_FLOAT: "float"}.get(self.format_tag)

    @property
    def frames(self) -> int:
        return self.data_bytes // self.block_align

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def declared_duration_s(self) -> float | None:
        if self.declared_bytes is None:
            return None
        return self.declared_bytes // self.block_align / self.sample_rate

    @property
    def truncated(self) -> bool:
        return self.declared_bytes is not None and self.declared_bytes - self.data_bytes >= self.block_align


@dataclass
class _Fmt:
    tag: int
    channels: int
    rate: int
    block_align: int
    bits: int


def _plausible_id(cid: bytes) -> bool:
    return len(cid) == 4 and all(0x20 <= c <= 0x7E for c in cid)


def parse_header(read_at: ReadAt, size: int) -> WavHeader:
    """Walk the chunks of a RIFF/WAVE or RF64 file of ``size`` bytes; raise WavError if unusable."""
    head = read_at(0, 12)
    rf64 = head[:4] in (b"RF64", b"BW64")
    fmt: _Fmt | None = None
    ds64_data: int | None = None
    data: tuple[int, int | None] | None = None  # (offset, declared size)
    pos, count, previous = 12, 0, b""
    while pos + 8 <= size and count < MAX_CHUNKS and not (fmt and data):
        header = read_at(pos, 8)
        cid, csize = header[:4], struct.unpack("<I", header[4:8])[0]
        if not _plausible_id(cid):
            if len(previous) == 4 and _plausible_id(read_at(pos - 1, 4)):
                raise WavError(rules.bad_header(
                    f"its '{previous.decode('latin-1')}' chunk has an odd size but no padding byte after it"))
            raise WavError(rules.bad_header(f"there is unreadable data where a chunk should start (byte {pos:,})"))
        body = pos + 8
        if cid == b"ds64" and rf64:
            if csize < 24 or body + 24 > size:
                raise WavError(rules.bad_header("its RF64 size table (ds64 chunk) is too short"))
            ds64_data = struct.unpack("<Q", read_at(body + 8, 8))[0]
        elif cid == b"fmt ":
            if data is not None:
                raise WavError(rules.bad_header("its format (fmt) chunk comes after the audio (data) chunk"))
            fmt = _parse_fmt(read_at(body, min(csize, 64, max(0, size - body))), csize)
        elif cid == b"data":
            if rf64 and csize == 0xFFFFFFFF and ds64_data is not None:
                declared: int | None = ds64_data or None  # 0: a streaming writer never came back to fill it
            else:
                declared = None if csize in _UNKNOWN_SIZE else csize
            data = (body, declared)
            if declared is None or body + declared > size:
                break  # the audio runs to the end of the file: no chunk can follow it
            csize = declared
        if body + csize > size and not (fmt and data):
            raise WavError(rules.bad_header(
                f"its '{cid.decode('latin-1')}' chunk claims {csize:,} bytes but the file ends before that"))
        pos, count, previous = body + csize + (csize & 1), count + 1, cid if csize & 1 else b""
    missing = ([rules.missing_fmt()] if fmt is None else []) + ([rules.missing_data()] if data is None else [])
    if missing:
        raise WavError(*missing)
    offset, declared = data
    present = size - offset if declared is None else min(declared, size - offset)
    return WavHeader(
        container="RF64" if rf64 else "WAV", format_tag=fmt.tag, channels=fmt.channels, sample_rate=fmt.rate,
        bits=fmt.bits, block_align=fmt.block_align, data_offset=offset,
        data_bytes=present // fmt.block_align * fmt.block_align, declared_bytes=declared,
    )


def _parse_fmt(body: bytes, csize: int) -> _Fmt:
    if csize < 16 or len(body) < 16:
        raise WavError(rules.bad_header("its format (fmt) chunk is too short"))
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == EXTENSIBLE:
        if len(body) < 40:
            raise WavError(rules.bad_header("its extensible format chunk is too short"))
        guid = body[24:40]
        tag = struct.unpack("<H", guid[:2])[0] if guid[2:] == _GUID_TAIL else EXTENSIBLE
    if channels == 0 or rate == 0 or block_align == 0:
        raise WavError(rules.bad_header(
            f"it declares {channels} channels at {rate:,} Hz with {block_align}-byte frames"))
    if tag in (PCM, IEEE_FLOAT):
        container = block_align * 8 // channels
        if block_align % channels or container % 8 or bits > container or bits == 0:
            raise WavError(rules.bad_header(
                f"its frame size ({block_align} bytes) does not fit {channels} channels of {bits}-bit samples"))
        bits = container
    return _Fmt(tag, channels, rate, block_align, bits)
