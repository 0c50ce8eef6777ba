"""The fingerprint computation is total over generated signals (beatpass_common.testing.signals):
a uint32 fingerprint, a finite duration and a deterministic hash, in bounded time; rates
Chromaprint cannot take are refused up front."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import pytest
from hypothesis import given

from beatpass_common.testing.signals import analysis_settings, signal_specs, time_limit
from beatpass_common.wav import WavError

from beatpass_fingerprint.chroma import ITEM_S, MAX_RATE_HZ, MIN_RATE_HZ, _downmix, analyse


@given(spec=signal_specs(max_s=11.0))
@analysis_settings(20)
def test_fingerprint_of_any_signal_is_total(spec):
    data = spec.wav()
    with time_limit(30):
        first = analyse(io.BytesIO(data))
    assert first.duration_s == spec.frames / spec.rate
    assert re.fullmatch("[0-9a-f]{64}", first.pcm_sha256)
    assert first.fingerprint.dtype == np.uint32 and first.fingerprint.ndim == 1
    assert len(first.fingerprint) <= first.duration_s / ITEM_S + 1
    again = analyse(io.BytesIO(data))
    assert again.pcm_sha256 == first.pcm_sha256 and np.array_equal(again.fingerprint, first.fingerprint)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy warns on the undefined NaN-to-int cast
def test_opposite_infinities_mix_to_silence_not_an_undefined_cast():
    # float64 samples beyond float32's range decode as +-inf; their mean is NaN.
    samples = np.array([[np.inf, -np.inf], [np.inf, np.inf], [-np.inf, -np.inf], [0.5, 0.5]], np.float32)
    assert np.frombuffer(_downmix(samples), "<i2").tolist() == [0, 32767, -32768, 16384]
    wide = np.array([[np.nan, 1.0, -np.inf]], np.float32)  # three channels: the mean path
    assert np.frombuffer(_downmix(wide), "<i2").tolist() == [0]


@pytest.mark.parametrize("rate", [MIN_RATE_HZ - 1, MAX_RATE_HZ + 1])
def test_rates_chromaprint_cannot_take_are_refused_before_it_sees_them(rate):
    data = np.zeros(rate // 10, "<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    wav = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
           + b"data" + struct.pack("<I", len(data)) + data)
    with pytest.raises(WavError, match=f"^cannot fingerprint audio at {rate} Hz$"):
        analyse(io.BytesIO(wav))
