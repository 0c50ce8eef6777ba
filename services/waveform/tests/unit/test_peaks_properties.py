"""Peaks are total over generated signals (beatpass_common.testing.signals): one (min, max) pair
per pixel and output channel, ordered, bounding exactly the samples as audiowaveform reads them."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from beatpass_common.testing.signals import analysis_settings, signal_specs, time_limit
from beatpass_waveform.peaks import compute_peaks
from beatpass_waveform.wav import WavReader


def reference_extremes(data: bytes, split: bool) -> tuple[np.ndarray, np.ndarray]:
    """Overall min and max per output channel, from the reader's int16 frames (mixing: the
    channel sum truncated towards zero, as audiowaveform divides)."""
    reader = WavReader(io.BytesIO(data))
    frames = np.concatenate([block.astype(np.int32) for block in reader.blocks(1 << 16)])
    if reader.format.channels > 1 and not split:
        total = frames.sum(axis=1, keepdims=True)
        frames = np.sign(total) * (np.abs(total) // reader.format.channels)
    return frames.min(axis=0), frames.max(axis=0)


@given(spec=signal_specs(max_s=11.0), spp=st.sampled_from([2, 3, 256, 441, 1000, 65536]), split=st.booleans())
@analysis_settings(20)
def test_peaks_of_any_signal_are_ordered_and_bound_the_samples(spec, spp, split):
    data = spec.wav()
    with time_limit(30):
        peaks = compute_peaks(io.BytesIO(data), samples_per_pixel=spp, split_channels=split)
    width = spec.channels if split else 1
    assert peaks.data.shape == (-(-spec.frames // spp), width, 2) and peaks.data.dtype == np.int16
    assert (peaks.data[..., 0] <= peaks.data[..., 1]).all()
    low, high = reference_extremes(data, split)
    assert (peaks.data[..., 0].min(axis=0) == low).all() and (peaks.data[..., 1].max(axis=0) == high).all()
    small = peaks.to_bits(8).data
    assert small.dtype == np.int8 and (small[..., 0] <= small[..., 1]).all()
