"""The shared forward-only WAV header reader."""

import io
import struct

import pytest

from beatpass_common.storage import LocalStore, RangedObject
from beatpass_common.testing.media import music, wav_bytes
from beatpass_common.wav import WavError, iter_frames, read_header, read_layout


@pytest.mark.parametrize("kw, bits, is_float", [({}, 16, False), ({"bits": 24, "extensible": True}, 24, False),
                                                ({"float_": True}, 32, True), ({"rf64": True}, 16, False)])
def test_header_and_frames(kw, bits, is_float):
    data = wav_bytes(music(0.5, channels=2), **kw)
    stream = io.BytesIO(data)
    fmt = read_header(stream)
    assert (fmt.sample_rate, fmt.channels, fmt.bits, fmt.is_float, fmt.frames) == (44100, 2, bits, is_float, 22050)
    assert sum(len(b) for b in iter_frames(stream, fmt, 1000)) == 22050 * fmt.block_align


def test_metadata_chunks_are_skipped_with_or_without_seeking(tmp_path):
    data = wav_bytes(music(0.2, channels=1))
    junk = b"LIST" + struct.pack("<I", 1001) + b"x" * 1001 + b"\x00"  # odd size, padded
    data = data[:12] + junk + data[12:]

    class ForwardOnly(io.RawIOBase):
        def __init__(self):
            self._f = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._f.readinto(b)

    assert read_header(io.BufferedReader(ForwardOnly())).frames == 8820
    store = LocalStore(tmp_path)
    store.put_bytes("b", "k", data)
    ranged = io.BufferedReader(RangedObject(store, "b", "k", len(data)), 64)
    assert read_layout(ranged).data_bytes == 8820 * 2 and ranged.tell() == len(data) - 8820 * 2


@pytest.mark.parametrize("data, message", [
    (b"RIFX" + b"\x00" * 40, "RIFF"),
    (b"RIFF\x10\x00\x00\x00WAVEdata\x00\x00\x00\x00", "before fmt"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "fmt chunk"),
])
def test_broken_headers_say_why(data, message):
    with pytest.raises(WavError, match=message):
        read_header(io.BytesIO(data))
