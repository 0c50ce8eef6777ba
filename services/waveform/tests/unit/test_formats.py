"""JSON v2 and .dat files: exact layout for a known waveform, and round trips through the readers."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from beatpass_waveform.formats import read_dat, read_json, to_dat, to_json
from beatpass_waveform.peaks import Peaks

MONO = Peaks(44_100, 256, 8, np.array([-127, 127, 0, 1, 0, 0], np.int8).reshape(3, 1, 2))


def test_json_is_audiowaveform_version_2():
    assert to_json(MONO) == (
        b'{"version":2,"channels":1,"sample_rate":44100,"samples_per_pixel":256,'
        b'"bits":8,"length":3,"data":[-127,127,0,1,0,0]}\n'
    )


def test_dat_version_1_for_one_channel():
    body = to_dat(MONO)
    assert body[:20] == struct.pack("<iIiiI", 1, 1, 44_100, 256, 3)
    assert body[20:] == bytes([0x81, 0x7F, 0, 1, 0, 0])


def test_dat_version_2_for_several_channels_16_bit():
    peaks = Peaks(48_000, 512, 16, np.array([-32768, 32767, -1, 2, 3, 4, -5, 6], np.int16).reshape(2, 2, 2))
    body = to_dat(peaks)
    assert body[:24] == struct.pack("<iIiiIi", 2, 0, 48_000, 512, 2, 2)
    assert body[24:] == np.array([-32768, 32767, -1, 2, 3, 4, -5, 6], "<i2").tobytes()
    assert json.loads(to_json(peaks))["channels"] == 2


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("length", [0, 1, 1000])
def test_round_trips(bits, channels, length):
    rng = np.random.default_rng(length + channels)
    dtype = np.int8 if bits == 8 else np.int16
    info = np.iinfo(dtype)
    data = rng.integers(info.min, info.max + 1, size=(length, channels, 2), dtype=dtype)
    peaks = Peaks(96_000, 300, bits, data)
    assert read_json(to_json(peaks)) == peaks
    assert read_dat(to_dat(peaks)) == peaks


def test_unknown_dat_version_is_refused():
    with pytest.raises(ValueError):
        read_dat(struct.pack("<iIiiI", 3, 0, 1, 2, 0))
