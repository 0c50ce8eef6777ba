"""The streaming reader: every accepted sample format, header variants, and what it refuses.

libsndfile's 16-bit view of a file (soundfile ``dtype="int16"``) is what audiowaveform reads for
integer PCM, so it is the reference for those; float is audiowaveform's own ``float * 32767``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from beatpass_common.errors import Unreadable as UndecodableAudio
from beatpass_waveform.wav import WavReader

RNG = np.random.default_rng(3)


class ForwardOnly(io.RawIOBase):
    """A stream that cannot seek, like an S3 object body, and returns short reads."""

    def __init__(self, data: bytes, piece: int = 1000):
        self._data, self._pos, self._piece = data, 0, piece

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self._piece, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def decode(wav: bytes, frames_per_block: int = 333) -> tuple[WavReader, np.ndarray]:
    reader = WavReader(ForwardOnly(wav))
    blocks = [block.copy() for block in reader.blocks(frames_per_block)]
    return reader, np.concatenate(blocks) if blocks else np.zeros((0, reader.format.channels), np.int16)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("container", ["WAV", "RF64"])
def test_every_sample_format_decodes_as_audiowaveform_sees_it(subtype, channels, container):
    signal = RNG.uniform(-1, 1, size=(2_000 + channels, channels))
    out = io.BytesIO()
    soundfile.write(out, signal, 48_000, subtype=subtype, format=container)
    wav = out.getvalue()
    if subtype in ("FLOAT", "DOUBLE"):
        stored = soundfile.read(io.BytesIO(wav), dtype="float32", always_2d=True)[0]
        expected = np.trunc(stored * np.float32(32767)).astype(np.int16)
    else:
        expected = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)[0]
    reader, frames = decode(wav)
    assert (reader.format.sample_rate, reader.format.channels) == (48_000, channels)
    assert np.array_equal(frames, expected)


@pytest.mark.parametrize("bits, is_float", [(16, False), (24, False), (32, False), (32, True)])
def test_extensible_rf64_and_odd_chunks_before_data(make_wav, bits, is_float):
    samples = RNG.uniform(-1, 1, (500, 2)) if is_float else RNG.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (500, 2))
    plain = decode(make_wav(samples, bits=bits, is_float=is_float))[1]
    odd = ((b"LIST", b"odd"), (b"JUNK", bytes(2_000_001)))  # a padded odd chunk, a large skipped one
    for variant in ({"extensible": True}, {"rf64": True}, {"chunks": odd}, {"extensible": True, "rf64": True}):
        assert np.array_equal(decode(make_wav(samples, bits=bits, is_float=is_float, **variant))[1], plain)


def test_trailing_partial_frame_is_ignored(make_wav):
    wav = make_wav(np.arange(20, dtype=np.int16).reshape(10, 2))
    size = int.from_bytes(wav[40:44], "little")
    patched = wav[:40] + (size + 2).to_bytes(4, "little") + wav[44:] + b"\x01\x02"  # half a frame more
    reader, frames = decode(patched)
    assert reader.format.frames == 10 and len(frames) == 10


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda w: b"RIFX" + w[4:], "RIFF"),
        (lambda w: w[:-10], "early"),
        (lambda w: w[:30], "format \\(fmt\\) chunk"),
    ],
)
def test_broken_files_raise(make_wav, mutate, message):
    wav = make_wav(np.zeros((100, 2), np.int16))
    with pytest.raises(UndecodableAudio, match=message):
        decode(mutate(wav))


@pytest.mark.parametrize("bits, is_float", [(0, False), (16, True), (33, False)])
def test_unsupported_sample_formats_raise(make_wav, bits, is_float):
    wav = make_wav(np.zeros((4, 1)), bits=16, is_float=False)
    tag = 3 if is_float else 1
    patched = wav[:20] + tag.to_bytes(2, "little") + wav[22:34] + bits.to_bytes(2, "little") + wav[36:]
    with pytest.raises(UndecodableAudio, match="cannot decode"):
        WavReader(io.BytesIO(patched))


def test_data_before_fmt_raises():
    wav = b"RIFF" + (16).to_bytes(4, "little") + b"WAVE" + b"data" + (0).to_bytes(4, "little")
    with pytest.raises(UndecodableAudio, match="no format"):
        WavReader(io.BytesIO(wav))


@pytest.mark.parametrize("rf64", [False, True])
@pytest.mark.parametrize("declared", [0xFFFFFFFF])
def test_streaming_headers_read_to_the_end_of_the_file(rf64, declared):
    import struct

    from beatpass_common.testing.media import music, wav_bytes

    good = wav_bytes(music(1.0, channels=2), rf64=rf64)
    marker = good.index(b"data") + 4
    if rf64:  # the data size is then in the ds64 table
        declared = 0xFFFFFFFF
    streamed = good[:marker] + struct.pack("<I", declared) + good[marker + 4 :] + b"\x01"  # plus a partial frame
    reader = WavReader(io.BytesIO(streamed))
    frames = sum(len(block) for block in reader.blocks(1000))
    assert frames == 44100
