"""Decode a WAV data chunk from a stream in fixed-size blocks and measure it on the way.

Memory is one block (about 64k frames) plus the BPM/key excerpts, whatever the file's length.
Every sample is looked at once: peak, clipped samples, non-finite floats, K-weighted energy
(loudness.py), and the excerpts for tempo and key estimation (musical.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from beatpass_common.wav import WavInfo, read_into

from .loudness import LoudnessMeter
from .musical import Excerpt

TARGET_BLOCK_FRAMES = 65536


@dataclass
class SignalStats:
    frames: int = 0  # frames actually decoded
    samples: int = 0
    peak: float = 0.0  # linear, 1.0 = full scale
    clipped: int = 0  # samples at or beyond full scale
    nonfinite_at_s: float | None = None  # where the first NaN/infinite float sample is
    short_read: bool = False  # the stream ended before the data chunk did
    loudness_lufs: float | None = None

    @property
    def peak_dbfs(self) -> float | None:
        return 20.0 * math.log10(self.peak) if self.peak > 0 else None

    @property
    def clipped_ratio(self) -> float:
        return self.clipped / self.samples if self.samples else 0.0


def _samples(buf: bytearray, count: int, bits: int, encoding: str) -> np.ndarray:
    """``count`` samples from ``buf`` as int16/int32 (PCM, native scale) or float32."""
    if encoding == "float":
        return np.frombuffer(buf, "<f4", count)
    if bits == 16:
        return np.frombuffer(buf, "<i2", count)
    if bits == 24:
        # buf starts with one spare byte: read each sample's 3 bytes as the top of an int32 and
        # shift down, which sign-extends in one pass.
        return np.ndarray((count,), "<i4", buf, 0, (3,)) >> 8
    return np.frombuffer(buf, "<i4", count)


def decode(stream: BinaryIO, header: WavInfo, *, excerpts: Sequence[Excerpt] = ()) -> SignalStats:
    """Decode ``header.data_bytes`` from ``stream`` (positioned at the data), filling ``excerpts``.

    The K-weighting filter (the costliest step; scipy releases the GIL) runs in a helper thread
    on block k while this thread reads and measures block k+1: at most two blocks in memory.
    """
    ch, bits, encoding = header.channels, header.bits, header.encoding
    if encoding is None:
        raise ValueError(f"format 0x{header.format_tag:04X} has no samples to decode (media_rules refuses it first)")
    meter = LoudnessMeter(header.sample_rate, ch)
    block_frames = meter.segment_frames * max(1, TARGET_BLOCK_FRAMES // meter.segment_frames)
    scale = 1.0 if encoding == "float" else 2.0 ** -(bits - 1)
    hi, lo = (1.0, -1.0) if encoding == "float" else (2 ** (bits - 1) - 1, -(2 ** (bits - 1)))
    pad = 1 if bits == 24 and encoding == "pcm" else 0
    buf = bytearray(pad + block_frames * header.block_align)
    view = memoryview(buf)[pad:]
    stats = SignalStats()
    remaining = header.frames
    with ThreadPoolExecutor(1, thread_name_prefix="loudness") as pool:
        pending: Future | None = None
        while remaining:
            want = min(block_frames, remaining)
            got = read_into(stream, view[: want * header.block_align]) // header.block_align
            stats.short_read = got < want
            if not got:
                break
            a = _samples(buf, got * ch, bits, encoding)
            mx, mn = a.max(), a.min()
            if encoding == "float" and not (math.isfinite(mx) and math.isfinite(mn)):
                stats.nonfinite_at_s = stats.frames / header.sample_rate
                break
            stats.peak = max(stats.peak, max(float(mx), -float(mn)) * scale)
            if mx >= hi or mn <= lo:
                stats.clipped += int(np.count_nonzero(a >= hi) + np.count_nonzero(a <= lo))
            planar = np.ascontiguousarray(a.reshape(got, ch).T, dtype=np.float32)  # a copy: buf is reused
            if pending is not None:
                pending.result()
            pending = pool.submit(meter.add, planar, scale)
            for excerpt in excerpts:
                excerpt.feed(stats.frames, planar, scale)
            stats.frames += got
            stats.samples += got * ch
            remaining -= got
            if stats.short_read:
                break
        if pending is not None:
            pending.result()
    stats.loudness_lufs = meter.integrated()
    return stats
