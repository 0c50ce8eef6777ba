"""What the service draws, from the waveform_* settings, checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from beatpass_common.config import Settings
from PIL import ImageColor

from .peaks import resolve_samples_per_pixel


@dataclass(frozen=True)
class WaveformOptions:
    samples_per_pixel: int = 256
    pixels_per_second: int | None = None
    split_channels: bool = False
    bits: int = 8
    png_width: int = 1800
    png_height: int = 280
    png_color: str = "#3b82f6"
    png_background: str = "#ffffff"

    def __post_init__(self):
        # Bad configuration fails at start-up, not as a retried failure on every track.
        if self.bits not in (8, 16):
            raise ValueError(f"waveform bits must be 8 or 16, got {self.bits}")
        ImageColor.getrgb(self.png_color)
        ImageColor.getrgb(self.png_background)
        resolve_samples_per_pixel(44_100, self.samples_per_pixel, self.pixels_per_second)  # lowest accepted rate

    @classmethod
    def from_settings(cls, settings: Settings) -> WaveformOptions:
        return cls(
            samples_per_pixel=settings.waveform_samples_per_pixel,
            pixels_per_second=settings.waveform_pixels_per_second,
            split_channels=settings.waveform_split_channels,
            bits=settings.waveform_bits,
            png_width=settings.waveform_png_width,
            png_height=settings.waveform_png_height,
            png_color=settings.waveform_png_color,
            png_background=settings.waveform_png_background,
        )
