"""The one reader of WAV containers (RIFF, RF64, BW64): the upload gateway's header look,
validation, waveform and fingerprint all read through it, so they agree on every file.

``read_info`` walks the chunks from any readable stream up to the first byte of sample data (an
object-store body cannot seek, so chunks are skipped by reading; a seekable stream jumps). It
refuses only what no reader can follow (``WavError``); ``WavInfo.undecodable`` says whether the
samples can be decoded, which validation judges before anything later tries. The decoding rules
are libsndfile's (1.2.2, what ``soundfile`` uses), so ``samples_int32``/``samples_float32`` give
exactly what ``soundfile.read(dtype="int32"/"float32")`` gives:

- the sample container is ceil(wBitsPerSample / 8) bytes; PCM up to 32 bits, 8-bit PCM is
  unsigned; IEEE float is 32 or 64 bits. Narrower valid bits (20-bit samples in 3 bytes, the
  valid-bits field of WAVE_FORMAT_EXTENSIBLE) are read as the full, left-justified container;
  the channel mask does not change the samples.
- nBlockAlign must equal channels × container bytes. libsndfile ignores it, or (24 bits in 4-byte
  containers) guesses the layout from the sample values, so a file where it disagrees decodes to
  different audio in different programs: it is undecodable here.
- data size 0xFFFFFFFF in a RIFF file (a streaming writer) means "to the end of the file"; in
  RF64/BW64 the ds64 chunk holds the size, and must be there. libsndfile's RF64 walk does not
  skip pad bytes, so an odd-sized chunk before an RF64 data chunk is refused. A data size of 0 (also from ds64) is an unfinished
  header: libsndfile reads no audio from it, so it is refused rather than guessed.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs: the format tag in the first two bytes, then this fixed tail.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_UNKNOWN_SIZE = 0xFFFFFFFF
_SKIP_PIECE = 1024 * 1024
_MAX_FMT_BYTES = 4096  # fmt is 16-40 bytes; anything far larger is not a WAV any tool wrote
# Chunks walked before the audio: real files have a handful. Fixed here, not a setting: every
# service must draw the line at the same place. (libsndfile 1.2.2 gives up after about 64 KiB of
# chunk headers: 8,185 empty chunks.)
MAX_CHUNKS = 1024
# WavInfo's fields from format_tag to declared_block_align, in order
_Fmt = tuple[int, bool, int, int, int, int, int | None, int]


class WavError(ValueError):
    """The stream is not a WAV container any reader can follow.

    ``detail`` completes "This WAV file's header is damaged: ..." for a producer; ``missing`` names
    the chunks ("fmt", "data") that were not found, when that is the reason; ``chunk_limit`` is
    MAX_CHUNKS when the walk stopped there (whether fmt and data follow is then unknown).
    """

    def __init__(self, detail: str, *, missing: tuple[str, ...] = (), chunk_limit: int | None = None):
        super().__init__(detail)
        self.detail, self.missing, self.chunk_limit = detail, missing, chunk_limit


@dataclass(frozen=True)
class WavInfo:
    """What the header declares and where the sample data is.

    ``data_bytes`` is the declared size (None: a streaming header, the data runs to the end of the
    stream); ``available_bytes`` is what the file holds of it when ``read_info`` knew the size.
    """

    container: str  # "WAV", "RF64" or "BW64"
    format_tag: int  # PCM, IEEE_FLOAT, another tag, or EXTENSIBLE when its sub-format GUID is unknown
    extensible: bool
    channels: int
    sample_rate: int  # Hz
    declared_bits: int  # wBitsPerSample
    valid_bits: int  # EXTENSIBLE's wValidBitsPerSample, else wBitsPerSample
    channel_mask: int | None  # EXTENSIBLE's dwChannelMask
    declared_block_align: int  # nBlockAlign
    data_offset: int  # bytes from the start of the file
    data_bytes: int | None
    available_bytes: int | None = None

    @property
    def encoding(self) -> str | None:
        return {PCM: "pcm", IEEE_FLOAT: "float"}.get(self.format_tag)

    @property
    def is_float(self) -> bool:
        return self.format_tag == IEEE_FLOAT

    @property
    def bits(self) -> int:
        """Container bits per sample: 24 for 20-bit samples in 3 bytes (libsndfile's PCM_24)."""
        return (self.declared_bits + 7) // 8 * 8

    @property
    def block_align(self) -> int:
        """Bytes per frame as decoded (equals ``declared_block_align`` when decodable)."""
        return self.channels * (self.bits // 8)

    @property
    def frames(self) -> int | None:
        """Whole frames present (declared when the file size was not known); None: to the end."""
        size = self.available_bytes if self.available_bytes is not None else self.data_bytes
        if size is None or not self.block_align:
            return None
        return size // self.block_align  # a trailing partial frame is dropped, as libsndfile does

    @property
    def duration_s(self) -> float:
        return (self.frames or 0) / self.sample_rate if self.sample_rate else 0.0

    @property
    def declared_duration_s(self) -> float | None:
        if self.data_bytes is None or not self.block_align or not self.sample_rate:
            return None
        return self.data_bytes // self.block_align / self.sample_rate

    @property
    def truncated(self) -> bool:
        """The file ends at least one frame before the declared data does."""
        return (
            self.data_bytes is not None
            and self.available_bytes is not None
            and self.data_bytes - self.available_bytes >= max(1, self.block_align)
        )

    def undecodable(self) -> str | None:
        """Why the samples cannot be decoded (a phrase for a producer), or None."""
        if self.encoding is None:
            return f"it holds audio in format 0x{self.format_tag:04X}, which is not PCM"
        if self.channels < 1 or self.sample_rate < 1:
            return f"it declares {self.channels} channels at {self.sample_rate:,} Hz"
        if self.is_float and self.declared_bits not in (32, 64):
            return f"it declares {self.declared_bits}-bit floating-point samples"
        if not self.is_float and not 1 <= self.declared_bits <= 32:
            return f"it declares {self.declared_bits}-bit PCM samples"
        if self.declared_block_align != self.block_align:
            return (
                f"its frame size ({self.declared_block_align} bytes) does not match {self.channels} "
                f"channel{'s' * (self.channels != 1)} of {self.declared_bits}-bit samples "
                f"({self.block_align} bytes)"
            )
        return None


def read_info(stream: BinaryIO, size: int | None = None) -> WavInfo:
    """Walk the chunks up to the first byte of sample data; the stream is left there.

    With ``size`` (the file's length; the stream must then be seekable) the walk also checks the
    chunks after the data (a second fmt or data chunk is refused, as libsndfile refuses it), the
    declared chunk sizes against the file, and fills ``available_bytes``. Raises WavError.
    """
    riff, _riff_size, wave = struct.unpack("<4sI4s", read_exact(stream, 12, "RIFF header"))
    if riff not in (b"RIFF", b"RF64", b"BW64") or wave != b"WAVE":
        raise WavError("it does not start like a RIFF/RF64 WAVE file")
    container = {b"RIFF": "WAV", b"RF64": "RF64", b"BW64": "BW64"}[riff]
    fmt: _Fmt | None = None
    ds64_data: int | None = None
    pos, pad = 12, b""
    for _ in range(MAX_CHUNKS):
        header = _chunk_header(stream, pos, size, pad, missing=("fmt",) * (fmt is None) + ("data",))
        cid, csize = header[:4], struct.unpack("<I", header[4:])[0]
        body = pos + 8
        if cid == b"data":
            if container != "WAV" and ds64_data is None:
                raise WavError("its RF64 size table (ds64 chunk) is missing")
            if fmt is None:
                raise WavError("it has no format (fmt) chunk before the audio (data) chunk", missing=("fmt",))
            declared = _data_size(container, csize, ds64_data)
            info = WavInfo(container, *fmt, data_offset=body, data_bytes=declared)
            if size is None:
                return info
            return _check_tail(stream, info, size)
        if size is not None and body + csize > size:
            raise WavError(f"its '{_name(cid)}' chunk claims {csize:,} bytes but the file ends before that")
        if cid == b"fmt ":
            if fmt is not None:
                raise WavError("it has two format (fmt) chunks")
            if csize > _MAX_FMT_BYTES:
                raise WavError(f"its format (fmt) chunk is {csize:,} bytes long")
            fmt = _parse_fmt(read_exact(stream, csize, "format (fmt) chunk"))
        elif cid == b"ds64" and container != "WAV":
            if csize < 24 or csize > _MAX_FMT_BYTES:
                raise WavError("its RF64 size table (ds64 chunk) is too short")
            ds64_data = struct.unpack_from("<Q", read_exact(stream, csize, "RF64 size table (ds64 chunk)"), 8)[0]
        else:  # metadata, possibly large: never held in memory
            skip(stream, csize)
        if csize & 1 and container != "WAV":  # libsndfile's RF64 walk does not skip pad bytes
            raise WavError(f"its '{_name(cid)}' chunk has an odd size, which RF64 readers do not follow")
        pad = read_exact(stream, 1, f"'{_name(cid)}' chunk") if csize & 1 else b""  # even-length padding
        pos = body + csize + len(pad)
    raise WavError(f"it has more than {MAX_CHUNKS:,} chunks before the audio", chunk_limit=MAX_CHUNKS)


def _chunk_header(stream: BinaryIO, pos: int, size: int | None, pad: bytes, missing: tuple[str, ...]) -> bytes:
    header = stream.read(8)
    if len(header) < 8:
        if (size is not None and pos >= size) or not header:  # the file ends between chunks
            raise WavError("it has no " + " and no ".join(missing) + " chunk", missing=missing)
        header += read_exact(stream, 8 - len(header), "chunk header")
    if not all(0x20 <= c <= 0x7E for c in header[:4]):
        if pad and all(0x20 <= c <= 0x7E for c in (pad + header[:3])):
            raise WavError("a chunk with an odd size has no padding byte after it")
        raise WavError(f"there is unreadable data where a chunk should start (byte {pos:,})")
    return header


def _data_size(container: str, csize: int, ds64_data: int | None) -> int | None:
    if csize == _UNKNOWN_SIZE:
        if container == "WAV":
            return None
        if ds64_data is None:  # read_info refuses an RF64 file without its ds64 chunk first
            raise WavError("its RF64 size table (ds64 chunk) is missing")
        csize = ds64_data
    if csize == 0:
        raise WavError("its audio (data) chunk says it holds 0 bytes (the recorder never finished the header)")
    return csize


def _check_tail(stream: BinaryIO, info: WavInfo, size: int) -> WavInfo:
    """Chunks after the data; the stream is put back at the first byte of sample data."""
    present = size - info.data_offset
    available = present if info.data_bytes is None else min(info.data_bytes, present)
    if info.data_bytes is not None and info.data_bytes < present:
        pos = info.data_offset + info.data_bytes + (info.data_bytes & 1)
        for _ in range(MAX_CHUNKS):
            if pos + 8 > size:
                break
            stream.seek(pos)
            header = stream.read(8)
            cid, csize = header[:4], struct.unpack("<I", header[4:])[0]
            if cid == b"data":
                raise WavError("it has two audio (data) chunks")
            if cid == b"fmt ":
                raise WavError("its format (fmt) chunk comes after the audio (data) chunk")
            if not all(0x20 <= c <= 0x7E for c in cid):
                break  # trailing bytes that are not chunks: libsndfile ignores them too
            pos += 8 + csize + (csize & 1)
        stream.seek(info.data_offset)
    return WavInfo(**{**info.__dict__, "available_bytes": available})


def _parse_fmt(body: bytes) -> _Fmt:
    if len(body) < 16:
        raise WavError("its format (fmt) chunk is too short")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    valid, mask, extensible = bits, None, tag == EXTENSIBLE
    if extensible:  # cbSize is not trusted (libsndfile ignores it too): the fmt length decides
        if len(body) < 40:
            raise WavError("its extensible format (fmt) chunk is too short")
        valid, mask, sub = struct.unpack_from("<HIH", body, 18)
        tag = sub if body[26:40] == _GUID_TAIL else EXTENSIBLE  # an unknown sub-format: not PCM
    return tag, extensible, channels, rate, bits, valid, mask, block_align


def _name(cid: bytes) -> str:
    return cid.decode("latin-1")


def iter_frames(stream: BinaryIO, info: WavInfo, block_bytes: int = 1024 * 1024) -> Iterator[bytes]:
    """The sample data in whole frames, about ``block_bytes`` at a time, up to the data size or the
    end of the stream; a trailing partial frame is dropped."""
    align = info.block_align
    block = max(1, block_bytes // align) * align
    remaining = info.data_bytes if info.data_bytes is not None else float("inf")
    carry = b""
    while remaining > 0:
        data = stream.read(int(min(block, remaining)))
        if not data:
            break
        remaining -= len(data)
        data = carry + data
        cut = len(data) - len(data) % align
        carry = data[cut:]
        if cut:
            yield data[:cut]


def samples_int32(raw: bytes | memoryview, info: WavInfo) -> np.ndarray:
    """Integer PCM frames as left-justified int32, shape (frames, channels): what libsndfile's
    ``sf_readf_int`` gives (8-bit unsigned samples become (u - 128) << 24)."""
    width = info.bits // 8
    data = np.frombuffer(raw, np.uint8)
    if width == 1:
        out = (data.astype(np.int32) - 128) << 24
    elif width == 2:
        out = data.view("<i2").astype(np.int32) << 16
    elif width == 4:
        out = data.view("<i4").astype(np.int32)
    else:  # 3 bytes: read 4 from each sample's start (the next sample's first byte on top), shift it out
        padded = np.empty(len(data) + 1, np.uint8)
        padded[:-1] = data
        out = np.ndarray((len(data) // 3,), "<i4", padded, 0, (3,)) << 8
    return out.reshape(-1, info.channels)


def samples_float32(raw: bytes | memoryview, info: WavInfo) -> np.ndarray:
    """Frames as float32 in [-1, 1) for PCM, shape (frames, channels): what libsndfile's
    ``sf_readf_float`` gives (integers scaled by a power of two, 64-bit float narrowed)."""
    if info.is_float:
        values = np.frombuffer(raw, "<f4" if info.declared_bits == 32 else "<f8")
        return values.astype(np.float32, copy=False).reshape(-1, info.channels)
    return samples_int32(raw, info).astype(np.float32) * np.float32(2.0**-31)


def read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` as far as the stream goes; returns the bytes read."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]  # typing.BinaryIO omits readinto, which every binary stream has
        if not n:
            break
        got += n
    return got


def read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    parts, got = [], 0
    while got < size:  # read(), not readinto(): any object with read() is a stream here
        part = stream.read(size - got)
        if not part:
            raise WavError(f"the file ends inside its {what}")
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
            raise WavError("the file ends inside a chunk")
        size -= len(piece)
