"""What the service draws, from the waveform_* settings, checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, fields

from PIL import ImageColor

from beatpass_common.config import Settings

from .peaks import resolve_samples_per_pixel


def _default(name: str):
    """The default of setting ``waveform_<name>``: the one place defaults are written."""
    return Settings.model_fields[f"waveform_{name}"].default


@dataclass(frozen=True)
class WaveformOptions:
    """The ``waveform_*`` settings without their prefix (defaults: the settings' defaults)."""

    samples_per_pixel: int = _default("samples_per_pixel")
    pixels_per_second: int | None = _default("pixels_per_second")
    split_channels: bool = _default("split_channels")
    bits: int = _default("bits")
    png_width: int = _default("png_width")
    png_height: int = _default("png_height")
    png_color: str = _default("png_color")
    png_background: str = _default("png_background")

    def __post_init__(self):
        # Bad configuration fails at start-up, not as a retried failure on every track.
        if self.bits not in (8, 16):
            raise ValueError(f"waveform bits must be 8 or 16, got {self.bits}")
        ImageColor.getrgb(self.png_color)
        ImageColor.getrgb(self.png_background)
        resolve_samples_per_pixel(44_100, self.samples_per_pixel, self.pixels_per_second)  # lowest accepted rate

    @classmethod
    def from_settings(cls, settings: Settings) -> WaveformOptions:
        return cls(**{f.name: getattr(settings, f"waveform_{f.name}") for f in fields(cls)})
