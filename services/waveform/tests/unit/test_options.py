"""Options come from the shared settings, and bad ones fail early."""

from __future__ import annotations

import pytest

from beatpass_waveform.options import WaveformOptions


def test_from_settings(settings):
    settings = settings.model_copy(
        update={"waveform_bits": 16, "waveform_png_color": "#112233", "waveform_split_channels": True}
    )
    options = WaveformOptions.from_settings(settings)
    assert (options.bits, options.png_color, options.split_channels) == (16, "#112233", True)
    assert (options.samples_per_pixel, options.pixels_per_second, options.png_width) == (256, None, 1800)


@pytest.mark.parametrize(
    "bad",
    [
        {"bits": 12},
        {"png_color": "blueish"},
        {"png_background": "#12"},
        {"samples_per_pixel": 1},
        {"pixels_per_second": 0},
    ],
)
def test_bad_options_are_refused_at_start_up(bad):
    with pytest.raises(ValueError):
        WaveformOptions(**bad)
