"""A PNG preview drawn from the peaks: one vertical min-to-max bar per image column.

Pixels are folded into columns by min of mins / max of maxes (so no peak is lost when the track
has more pixels than the image is wide), each channel gets its own horizontal band, and the
image is built as one array so drawing costs the same whatever the track's length.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageColor

from .peaks import Peaks


def render_png(peaks: Peaks, *, width: int, height: int, color: str, background: str) -> bytes:
    mask = np.zeros((height, width), bool)
    if peaks.length:
        full_scale = 128.0 if peaks.bits == 8 else 32768.0
        band = height // peaks.channels
        for channel in range(peaks.channels):
            lo, hi = _columns(peaks.data[:, channel, :], width)
            mask[channel * band : (channel + 1) * band] = _bars(lo / full_scale, hi / full_scale, band)
    # A two-colour palette image: a byte per pixel instead of three or four, so encoding is ~7x faster.
    image = Image.frombytes("P", (width, height), mask.astype(np.uint8).tobytes())
    fg, bg = ImageColor.getrgb(color), ImageColor.getrgb(background)
    if len(fg) == 4 or len(bg) == 4:
        image.putpalette([*_rgba(bg), *_rgba(fg)], rawmode="RGBA")
    else:
        image.putpalette([*bg, *fg])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _columns(pairs: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max per image column; with fewer pixels than columns, pixels repeat."""
    starts = np.arange(width) * len(pairs) // width
    return np.minimum.reduceat(pairs[:, 0], starts), np.maximum.reduceat(pairs[:, 1], starts)


def _bars(lo: np.ndarray, hi: np.ndarray, height: int) -> np.ndarray:
    """(height, columns) mask of bars from amplitude ``hi`` down to ``lo`` (in -1..1), zero in the middle."""
    middle = (height - 1) / 2
    top = np.rint(middle - hi * middle).astype(int)
    bottom = np.rint(middle - lo * middle).astype(int)
    rows = np.arange(height)[:, None]
    return (rows >= top) & (rows <= bottom)


def _rgba(color: tuple[int, ...]) -> tuple[int, ...]:
    return color if len(color) == 4 else (*color, 255)
