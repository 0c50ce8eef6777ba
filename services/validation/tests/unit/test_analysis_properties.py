"""Every measurement and estimate is total: for any finite signal it returns a finite value or
None ("not estimated"), within its range, in bounded time. Signals come from
beatpass_common.testing.signals; a hanging example fails through ``time_limit``."""

from __future__ import annotations

import io
import math
from fractions import Fraction

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from beatpass_common.testing.signals import (
    analysis_settings,
    bpm_ranges,
    finite_or_none,
    signal_specs,
    time_limit,
)
from beatpass_common.wav import read_info
from beatpass_validation import musical
from beatpass_validation.decode import decode
from beatpass_validation.loudness import LoudnessMeter

KEYS = {f"{note} {scale}" for note in musical.NOTES for scale in ("major", "minor")}
# Samples the estimate may ever look at, whatever the track's length: the structural bound on its work.
MAX_ANALYSED = musical.MAX_EXCERPTS * musical.EXCERPT_S * 2 * musical.ANALYSIS_RATE
TEMPOGRAM_ROWS = 384  # librosa's default tempogram window: the length of the strength curve


def measure(data: bytes, *, with_excerpts: bool = True):
    header = read_info(io.BytesIO(data), len(data))
    parts = musical.excerpts(header.frames, header.sample_rate) if with_excerpts else []
    stream = io.BytesIO(data[header.data_offset : header.data_offset + header.available_bytes])
    return header, decode(stream, header, excerpts=parts), parts


def assert_estimate_in_range(est: musical.Estimate, bpm_min: float, bpm_max: float) -> None:
    assert (est.bpm is None) == (est.bpm_confidence is None)
    if est.bpm is not None:
        assert bpm_min <= est.bpm <= bpm_max
        assert 0.0 <= est.bpm_confidence <= 1.0
    assert (est.key is None) == (est.key_confidence is None)
    if est.key is not None:
        assert est.key in KEYS
        assert 0.0 <= est.key_confidence <= 1.0


def assert_stats_total(stats, header) -> None:
    assert stats.frames == header.frames and not stats.short_read
    assert stats.nonfinite_at_s is None
    assert math.isfinite(stats.peak) and stats.peak >= 0
    assert finite_or_none(stats.peak_dbfs) and (stats.peak_dbfs is None) == (stats.peak == 0)
    assert 0.0 <= stats.clipped_ratio <= 1.0
    assert finite_or_none(stats.loudness_lufs)


@given(bpm=st.floats(min_value=5e-324, max_value=1e300), bounds=bpm_ranges())
@example(bpm=5e-324, bounds=(60, 200))  # the smallest positive float
@analysis_settings(300)
def test_octave_folding_lands_in_range_or_gives_up(bpm, bounds):
    lo, hi = bounds
    with time_limit(1):
        folded = musical._fold_octaves(bpm, lo, hi)
    if folded is not None:
        assert lo <= folded <= hi
        assert math.frexp(folded)[0] == math.frexp(bpm)[0]  # the same mantissa: whole octaves only
    else:
        near = math.floor(math.log2(lo) - math.log2(bpm))  # exact arithmetic around the first octave at or above lo
        assert not any(lo <= Fraction(bpm) * Fraction(2) ** k <= hi for k in range(near - 2, near + 3))


def _slope(start: float, fall: float, ripple: np.ndarray) -> np.ndarray:
    """A tempogram falling almost linearly from lag 0: the prior, not a peak, picks the lag, and
    the three points there are nearly collinear (the brown-noise case)."""
    lags = np.arange(TEMPOGRAM_ROWS)
    return np.clip(start - fall * lags / TEMPOGRAM_ROWS + ripple, 0.0, 1.0)


tempograms = (
    arrays(np.float64, TEMPOGRAM_ROWS, elements=st.floats(0.0, 1.0))
    | st.builds(
        _slope,
        st.floats(0.5, 1.0),
        st.floats(0.0, 0.5),
        arrays(np.float64, TEMPOGRAM_ROWS, elements=st.floats(-1e-4, 1e-4)),
    )
    | st.floats(0.0, 1.0).map(lambda level: np.full(TEMPOGRAM_ROWS, level))
)


@given(strength=tempograms, rate=st.sampled_from([22050.0, 24000.0, 44100 / 2, 192000 / 8]), bounds=bpm_ranges())
@analysis_settings(150)
def test_tempo_from_any_tempogram_is_in_range_or_none(strength, rate, bounds):
    with time_limit(10):
        bpm, confidence = musical._tempo(strength, rate, *bounds)
    assert (bpm is None) == (confidence is None)
    if bpm is not None:
        assert bounds[0] <= bpm <= bounds[1] and 0.0 <= confidence <= 1.0


@given(
    chroma=arrays(np.float64, 12, elements=st.floats(0.0, 1e300))
    | st.floats(0.0, 1e300).map(lambda level: np.full(12, level))
)
@example(chroma=np.full(12, 5.0))  # flat: every correlation is 0/0
@example(chroma=np.zeros(12))
@analysis_settings(200)
def test_key_from_any_chroma_is_a_key_or_none(chroma):
    key, confidence = musical._key(chroma)
    assert (key is None) == (confidence is None)
    assert key is None or (key in KEYS and 0.0 <= confidence <= 1.0)


@given(
    level=st.sampled_from([0.0, 1e-30, 1e-6, 1.0, 1e4, 1e20, 3e38]),
    rate=st.sampled_from([1, 3000, 8000, 44_100, 192_000, 768_000, 800_000, 4_294_967_295]),
    channels=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
@analysis_settings(60)
def test_loudness_of_any_finite_block_is_finite_or_none(level, rate, channels, seed):
    meter = LoudnessMeter(rate, channels)
    assert meter.segment_frames <= 76_800  # 100 ms at 768 kHz: no absurd block sizes
    frames = min(2 * rate, 50_000) // meter.segment_frames * meter.segment_frames or 1
    noise = np.random.default_rng(seed).standard_normal((channels, frames)) * level
    block = np.clip(noise, -3.4e38, 3.4e38).astype(np.float32)  # finite, up to float32's limit
    with time_limit(10):
        meter.add(block)
        loudness = meter.integrated()
    assert finite_or_none(loudness)


@given(spec=signal_specs())
@analysis_settings(20)
def test_decode_statistics_are_total(spec):
    data = spec.wav()
    with time_limit(30):
        header, stats, _ = measure(data, with_excerpts=False)
    assert_stats_total(stats, header)
    assert stats.peak <= max(1.0, spec.level * 1.0001)  # PCM at most full scale


@given(spec=signal_specs(), bounds=bpm_ranges())
@analysis_settings(8)
def test_estimates_of_any_short_signal_are_in_range_or_none(spec, bounds):
    _check_estimate(spec, bounds)


@given(spec=signal_specs(min_s=40.0, max_s=180.0, rates=(44_100, 48_000, 96_000)), bounds=bpm_ranges())
@analysis_settings(2)
def test_estimates_of_long_signals_are_in_range_or_none(spec, bounds):
    _check_estimate(spec, bounds)


def _check_estimate(spec, bounds):
    data = spec.wav()
    with time_limit(60):
        header, stats, parts = measure(data)
        assert sum(len(p.samples) for p in parts) <= MAX_ANALYSED
        est = musical.estimate(parts, bpm_min=bounds[0], bpm_max=bounds[1])
    assert_stats_total(stats, header)
    assert_estimate_in_range(est, *bounds)
