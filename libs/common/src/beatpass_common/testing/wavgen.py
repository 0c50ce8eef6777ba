"""Hypothesis strategies that write WAV files from their parts, odd and broken ones included.

``wav_files()`` draws a ``WavParts`` (container, format tag, bit depth, valid bits, block align,
channel mask, metadata chunks and where they go, the data size field, a truncation point) and
``WavParts.to_bytes()`` assembles it; the samples are random bytes, so every bit of the sample
decoding is exercised. With ``noise=True`` the samples come from a drawn seed instead (long data
is cheap to draw) and floating-point ones are uniform in [-1, 1): audio a service would accept,
where random float bytes are mostly NaN or out of range. ``wav_mutations()`` flips, cuts and
splices bytes of such files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@dataclass(frozen=True)
class WavParts:
    riff: bytes  # b"RIFF", b"RF64", b"BW64"
    tag: int  # the fmt tag; 0xFFFE for WAVE_FORMAT_EXTENSIBLE
    sub_tag: int  # the extensible sub-format (the GUID's first two bytes)
    guid_tail: bytes
    channels: int
    rate: int
    bits: int
    valid_bits: int
    mask: int
    block_align: int
    fmt_extra: bytes  # bytes after the 16 (or 40) of fmt; a short fmt cuts into the 16
    fmt_cut: int  # bytes removed from the end of fmt's body
    before: tuple[tuple[bytes, bytes, bool], ...]  # (id, body, padded) between fmt and data
    after: tuple[tuple[bytes, bytes, bool], ...]  # chunks after the data
    ds64: str  # "none", "size" (the data's real size), "zero"
    data_size: str  # "exact", "zero", "unknown" (0xFFFFFFFF), "more", "less"
    data: bytes
    fmt_after_data: bool
    cut_at: int | None  # truncate the file to this many bytes (from the end: negative)

    def to_bytes(self) -> bytes:
        fmt = struct.pack(
            "<HHIIHH",
            self.tag,
            self.channels,
            self.rate,
            self.rate * self.block_align & 0xFFFFFFFF,
            self.block_align,
            self.bits,
        )
        if self.tag == 0xFFFE:
            fmt += (
                struct.pack("<HHI", 22, self.valid_bits, self.mask) + struct.pack("<H", self.sub_tag) + self.guid_tail
            )
        fmt = (fmt + self.fmt_extra)[: max(0, len(fmt) + len(self.fmt_extra) - self.fmt_cut)]
        real = len(self.data)
        size = {"exact": real, "zero": 0, "unknown": 0xFFFFFFFF, "more": real + 1000, "less": max(0, real - 7)}[
            self.data_size
        ]
        rf64 = self.riff != b"RIFF"
        ds64 = b""
        if rf64 and self.ds64 != "none":
            ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, real if self.ds64 == "size" else 0, 0, 0))
            size = 0xFFFFFFFF
        parts = [ds64]  # its RIFF size is filled in below, once the length is known
        if not self.fmt_after_data:
            parts.append(chunk(b"fmt ", fmt))
        parts += [chunk(cid, body, padded) for cid, body, padded in self.before]
        parts.append(chunk(b"data", self.data, size=size))
        parts += [chunk(cid, body, padded) for cid, body, padded in self.after]
        if self.fmt_after_data:
            parts.append(chunk(b"fmt ", fmt))
        body = b"WAVE" + b"".join(parts)
        if ds64:
            body = body[:12] + struct.pack("<Q", len(body)) + body[20:]
        out = self.riff + struct.pack("<I", 0xFFFFFFFF if rf64 else len(body)) + body
        return out if self.cut_at is None else out[: self.cut_at]


def chunk(cid: bytes, body: bytes, padded: bool = True, size: int | None = None) -> bytes:
    return (
        cid
        + struct.pack("<I", len(body) if size is None else size)
        + body
        + (b"\0" if len(body) & 1 and padded else b"")
    )


_META_IDS = [b"LIST", b"bext", b"JUNK", b"iXML", b"PAD ", b"cue "]
_meta = st.tuples(st.sampled_from(_META_IDS), st.binary(max_size=33), st.sampled_from([True, True, True, False]))
# Even-sized and padded: every reader follows these, RF64 ones included.
_even_meta = st.tuples(st.sampled_from(_META_IDS), st.binary(max_size=16).map(lambda b: b + b), st.just(True))


@st.composite
def wav_parts(
    draw, max_frames: int = 400, noise: bool = False, min_frames: int = 0, mostly_valid: bool = False
) -> WavParts:
    """Mostly plausible layouts (every one libsndfile reads is reachable), some broken; from
    ``min_frames`` to ``max_frames`` frames of random bytes, or of seeded noise (``noise``, see
    the module doc). ``mostly_valid``: three files in four draw every choice from what
    validation accepts (but the frame size, a few of which still disagree with the format), so
    they reach the decoders; the rest are drawn from everything."""
    valid = mostly_valid and draw(st.sampled_from([True, True, True, False]))

    def choose(everything: list, accepted: list):
        return draw(st.sampled_from(accepted if valid else everything))

    tag = choose([1, 1, 1, 3, 3, 0xFFFE, 0xFFFE, 6, 0x55], [1, 1, 3, 0xFFFE])
    sub_tag = choose([1, 1, 3, 6], [1, 3])
    is_float = tag == 3 or (tag == 0xFFFE and sub_tag == 3)
    bits = (
        choose([32, 64, 16], [32])
        if is_float
        else choose([8, 12, 16, 20, 24, 24, 32, 0, 33, 48], [12, 16, 16, 20, 24, 24, 32])
    )
    channels = choose([1, 2, 2, 3, 0], [1, 2, 2])
    width = (bits + 7) // 8
    block_align = choose(
        [channels * width] * 6 + [channels * 4, channels * width + 1, 0, channels * max(1, width - 1)],
        [channels * width] * 8 + [channels * 4, channels * width + 1],
    )
    valid_bits = draw(st.sampled_from([bits, bits, max(0, bits - 4), 0, bits + 1]))
    frames = draw(st.integers(min_frames, max_frames))
    if noise:
        size = frames * max(1, block_align) + draw(st.integers(0, 3))
        data = _noise(draw(st.integers(0, 2**32 - 1)), size, bits if is_float else None)
    else:
        data = draw(st.binary(min_size=frames * max(1, block_align), max_size=frames * max(1, block_align) + 3))
    cut = None if valid else draw(st.none() | st.none() | st.none() | st.integers(0, 200) | st.integers(-50, -1))
    meta = _even_meta if valid else _meta
    return WavParts(
        riff=draw(st.sampled_from([b"RIFF", b"RIFF", b"RIFF", b"RF64", b"BW64"])),
        tag=tag,
        sub_tag=sub_tag,
        guid_tail=choose([GUID_TAIL] * 5 + [b"\x01" * 14], [GUID_TAIL]),
        channels=channels,
        rate=choose([44100, 48000, 96000, 8000, 0], [44100, 48000, 88200, 96000, 192000]),
        bits=bits,
        valid_bits=valid_bits,
        mask=draw(st.sampled_from([0, 3, 4, 7, 0xFFFFFFFF])),
        block_align=block_align,
        fmt_extra=choose([b"", b"", b"\0\0", b"\0\0\0"], [b"", b"\0\0"]),
        fmt_cut=choose([0] * 8 + [1, 6, 20], [0]),
        before=tuple(draw(st.lists(meta, max_size=3))),
        after=tuple(draw(st.lists(meta, max_size=2))),
        ds64=choose(["size", "size", "none", "zero"], ["size"]),
        data_size=choose(["exact"] * 6 + ["zero", "unknown", "more", "less"], ["exact", "exact", "unknown", "less"]),
        data=data,
        fmt_after_data=choose([False] * 12 + [True], [False]),
        cut_at=cut,
    )


def wav_files(max_frames: int = 400) -> st.SearchStrategy[bytes]:
    return wav_parts(max_frames).map(WavParts.to_bytes)


def _noise(seed: int, size: int, float_bits: int | None) -> bytes:
    """``size`` bytes of white noise: random bytes, or uniform samples in [-1, 1) of ``float_bits``."""
    rng = np.random.default_rng(seed)
    if float_bits not in (32, 64):
        return rng.bytes(size)
    width = float_bits // 8
    values = rng.uniform(-1.0, 1.0, size // width).astype("<f4" if width == 4 else "<f8")
    return values.tobytes() + bytes(size % width)


@st.composite
def wav_mutations(draw) -> bytes:
    """A generated file with bytes overwritten, cut out or inserted, or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(draw(wav_files(max_frames=40)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "cut", "insert"]))
        if action == "set":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)
