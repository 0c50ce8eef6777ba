import io
import struct

import numpy as np
import pytest
import soundfile as sf

from beatpass_common.errors import Unreadable
from beatpass_common.wav import iter_frames
from beatpass_fingerprint.chroma import analyse
from beatpass_fingerprint.wav import open_wav, to_float


class ShortReads(io.RawIOBase):
    """A non-seekable stream that returns short reads, like an HTTP body."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self._data.read(min(n, 4097) if n and n > 0 else 4097)


def tone(seconds=12.0, sr=44100, channels=2):
    t = np.arange(int(seconds * sr)) / sr
    x = 0.4 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    x = x + 0.1 * np.sin(2 * np.pi * 331 * t * (1 + 0.1 * np.sin(t)))
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def wav(x, sr=44100, subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format="WAV")
    return buf.getvalue()


def with_metadata_chunk(data: bytes) -> bytes:
    """Insert an odd-sized LIST chunk before the data (a different header, the same audio)."""
    pos = data.index(b"data")
    body = b"INFOISFT\x05\x00\x00\x00beat\x00"
    chunk = b"LIST" + struct.pack("<I", len(body)) + body + b"\x00"
    out = data[:pos] + chunk + data[pos:]
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8"])
def test_decodes_every_sample_format(subtype):
    x = tone(1.0)
    fmt = open_wav(io.BytesIO(data := wav(x, subtype=subtype)))
    stream = io.BytesIO(data)
    open_wav(stream)
    decoded = np.concatenate([to_float(b, fmt) for b in iter_frames(stream, fmt)])
    assert decoded.shape == x.shape
    assert np.abs(decoded - x).max() < (1e-2 if subtype == "PCM_U8" else 1e-4)


def test_same_audio_under_other_headers_hashes_the_same():
    data = wav(tone())
    stereo16 = analyse(io.BytesIO(data))
    assert analyse(ShortReads(with_metadata_chunk(data))).pcm_hash == stereo16.pcm_hash
    x, sr = sf.read(io.BytesIO(data), dtype="float32")
    assert analyse(io.BytesIO(wav(x, sr, "PCM_24"))).pcm_hash == stereo16.pcm_hash
    rf64 = io.BytesIO()
    sf.write(rf64, x, sr, subtype="PCM_16", format="RF64")
    assert rf64.getvalue()[:4] == b"RF64" and analyse(io.BytesIO(rf64.getvalue())).pcm_hash == stereo16.pcm_hash
    assert analyse(io.BytesIO(wav(x * 0.5, sr))).pcm_hash != stereo16.pcm_hash
    assert analyse(io.BytesIO(wav(x, 48000))).pcm_hash != stereo16.pcm_hash  # a rate is meaning


def test_fingerprint_spans_the_whole_track():
    audio = analyse(io.BytesIO(wav(tone(200.0, 22050, 1), 22050)))
    assert audio.duration_s == pytest.approx(200.0)
    assert len(audio.fingerprint) > 190 * 8  # ~8 sub-fingerprints a second, not capped at 120 s


def test_not_a_wav_is_an_error():
    with pytest.raises(Unreadable):  # the bus parks it at once: step.failed reason=unreadable
        open_wav(io.BytesIO(b"ID3\x04" + b"\x00" * 64))
