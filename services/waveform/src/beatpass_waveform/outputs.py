"""One WAV stream in, the three waveform files out (JSON, .dat, PNG), all from one pass of peaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .formats import to_dat, to_json
from .options import WaveformOptions
from .peaks import compute_peaks
from .png import render_png


@dataclass(frozen=True)
class Output:
    extension: str
    content_type: str
    body: bytes


def generate(stream: BinaryIO, options: WaveformOptions) -> tuple[int, list[Output]]:
    """Returns the samples per pixel used and the files, in a fixed order."""
    peaks = compute_peaks(
        stream,
        samples_per_pixel=options.samples_per_pixel,
        pixels_per_second=options.pixels_per_second,
        split_channels=options.split_channels,
    )
    stored = peaks.to_bits(options.bits)
    png = render_png(
        peaks,
        width=options.png_width,
        height=options.png_height,
        color=options.png_color,
        background=options.png_background,
    )
    return peaks.samples_per_pixel, [
        Output("json", "application/json", to_json(stored)),
        Output("dat", "application/octet-stream", to_dat(stored)),
        Output("png", "image/png", png),
    ]
