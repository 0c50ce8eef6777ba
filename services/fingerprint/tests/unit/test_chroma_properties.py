"""The fingerprint computation is total over generated signals (beatpass_common.testing.signals):
a uint32 fingerprint, a finite duration, a deterministic hash and shift-robust peaks in range, in
bounded time; rates
Chromaprint cannot take are refused up front."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given

from beatpass_common.testing.signals import analysis_settings, signal_specs, time_limit
from beatpass_common.wav import WavError
from beatpass_fingerprint.chroma import ITEM_S, MAX_RATE_HZ, MIN_RATE_HZ, analyse
from beatpass_fingerprint.cqt_peaks import FLOOR_DB, FRAME_S, MAX_PEAKS_PER_S, N_BINS, pack_peaks


@given(spec=signal_specs(max_s=11.0))
@analysis_settings(20)
def test_fingerprint_of_any_signal_is_total(spec):
    data = spec.wav()
    with time_limit(30):
        first = analyse(io.BytesIO(data), shift_peaks=True)
    assert first.duration_s == spec.frames / spec.rate
    assert re.fullmatch("[0-9a-f]{64}", first.pcm_hash)
    assert first.fingerprint.dtype == np.uint32 and first.fingerprint.ndim == 1
    assert len(first.fingerprint) <= first.duration_s / ITEM_S + 1
    peaks = first.peaks  # the shift-robust print: in range, and the same each time
    assert np.all((peaks.frames >= 0) & (peaks.frames <= first.duration_s / FRAME_S + 1))
    assert np.all((peaks.bins > 0) & (peaks.bins < N_BINS - 1)) and np.all(
        (peaks.levels <= 0) & (peaks.levels > -FLOOR_DB)
    )
    assert len(peaks) <= MAX_PEAKS_PER_S * (first.duration_s + 2)
    again = analyse(io.BytesIO(data), shift_peaks=True)
    assert again.pcm_hash == first.pcm_hash and np.array_equal(again.fingerprint, first.fingerprint)
    assert pack_peaks(again.peaks) == pack_peaks(peaks)


def test_float_audio_with_nan_and_infinities_fingerprints_the_same_each_time():
    # Float samples can be anything; NaN and infinities reach the resampler as they are.
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (44100 * 5, 2))
    x[1000:50000:7] = np.nan
    x[2000:60000:11, 0] = np.inf
    x[3000:70000:13, 1] = -np.inf
    buf = io.BytesIO()
    sf.write(buf, x, 44100, subtype="DOUBLE", format="WAV")
    first, again = analyse(io.BytesIO(buf.getvalue())), analyse(io.BytesIO(buf.getvalue()))
    assert len(first.fingerprint) > 0 and first.pcm_hash == again.pcm_hash
    assert np.array_equal(first.fingerprint, again.fingerprint)


@pytest.mark.parametrize("rate", [MIN_RATE_HZ - 1, MAX_RATE_HZ + 1])
def test_rates_chromaprint_cannot_take_are_refused_before_it_sees_them(rate):
    data = np.zeros(rate // 10, "<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    wav = (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    with pytest.raises(WavError, match=f"^cannot fingerprint audio at {rate} Hz$"):
        analyse(io.BytesIO(wav))
