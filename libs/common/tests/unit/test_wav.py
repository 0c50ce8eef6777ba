"""The common WAV reader: the layouts it decodes (as libsndfile does) and those it refuses."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from beatpass_common.storage import LocalStore, RangedObject
from beatpass_common.testing.media import music, wav_bytes
from beatpass_common.testing.wavgen import GUID_TAIL, chunk
from beatpass_common.wav import WavError, iter_frames, read_info, samples_float32, samples_int32


def pcm_wav(x: np.ndarray, bits: int, container: int, rate: int = 48000, extensible: bool = False) -> bytes:
    """Left-justified ``bits``-bit samples in ``container``-bit slots, as recorders write them
    (the layouts of /work/shared/cases/odd_pcm_layouts.py)."""
    q = np.round(x * (2 ** (bits - 1) - 1)).astype(np.int64) << (container - bits)
    data = q.astype("<i8").view(np.uint8).reshape(-1, 8)[:, : container // 8].tobytes()
    align = container // 8 * x.shape[1]
    fmt = struct.pack(
        "<HHIIHH", 0xFFFE if extensible else 1, x.shape[1], rate, rate * align, align, container if extensible else bits
    )
    if extensible:
        fmt += struct.pack("<HHIH", 22, bits, 3, 1) + GUID_TAIL
    body = b"WAVE" + chunk(b"fmt ", fmt) + chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decoded(data: bytes) -> np.ndarray:
    stream = io.BytesIO(data)
    info = read_info(stream, len(data))
    assert info.undecodable() is None
    return samples_int32(stream.read(info.frames * info.block_align), info)


def test_20_bit_samples_in_3_byte_containers_decode_as_24_bit_pcm():
    data = pcm_wav(music(0.3, rate=48000), 20, 24)
    info = read_info(io.BytesIO(data), len(data))
    assert (info.declared_bits, info.bits, info.block_align, info.frames) == (20, 24, 6, 14400)
    assert np.array_equal(decoded(data), sf.read(io.BytesIO(data), dtype="int32")[0])


def test_24_bit_samples_in_8_byte_stereo_frames_are_undecodable():
    # libsndfile guesses this layout from the sample values (PCM_32, float, or packed 24-bit).
    data = pcm_wav(music(0.3, rate=48000), 24, 32)
    info = read_info(io.BytesIO(data), len(data))
    assert info.undecodable() == "its frame size (8 bytes) does not match 2 channels of 24-bit samples (6 bytes)"


def test_extensible_valid_bits_and_mask_do_not_change_the_samples():
    data = pcm_wav(music(0.2, rate=48000), 20, 24, extensible=True)
    info = read_info(io.BytesIO(data), len(data))
    assert (info.extensible, info.valid_bits, info.channel_mask, info.bits) == (True, 20, 3, 24)
    assert np.array_equal(decoded(data), sf.read(io.BytesIO(data), dtype="int32")[0])


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_every_sample_format_libsndfile_writes_decodes_to_its_samples(subtype):
    out = io.BytesIO()
    sf.write(out, music(0.2, channels=2) * 0.9, 44100, subtype=subtype, format="WAV")
    data = out.getvalue()
    stream = io.BytesIO(data)
    info = read_info(stream, len(data))
    got = samples_float32(stream.read(), info)
    assert np.array_equal(got, sf.read(io.BytesIO(data), dtype="float32")[0])


@pytest.mark.parametrize(
    "kw, bits, is_float",
    [
        ({}, 16, False),
        ({"bits": 24, "extensible": True}, 24, False),
        ({"float_": True}, 32, True),
        ({"rf64": True}, 16, False),
    ],
)
def test_header_and_frames(kw, bits, is_float):
    data = wav_bytes(music(0.5, channels=2), **kw)
    stream = io.BytesIO(data)
    fmt = read_info(stream)
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

    assert read_info(io.BufferedReader(ForwardOnly())).frames == 8820
    store = LocalStore(tmp_path)
    store.put_bytes("b", "k", data)
    ranged = io.BufferedReader(RangedObject(store, "b", "k", len(data)), 64)
    info = read_info(ranged, len(data))
    assert info.available_bytes == 8820 * 2 and ranged.tell() == len(data) - 8820 * 2


def _riff(*chunks: bytes, kind: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return kind + struct.pack("<I", len(body)) + body


_FMT = chunk(b"fmt ", struct.pack("<HHIIHH", 1, 2, 44100, 176400, 4, 16))
_DATA = b"\x01\x02\x03\x04" * 10


@pytest.mark.parametrize(
    "data, detail",
    [
        (b"RIFX" + b"\x00" * 40, "it does not start like a RIFF/RF64 WAVE file"),
        (_riff(chunk(b"data", _DATA), _FMT), "it has no format (fmt) chunk before the audio (data) chunk"),
        (_riff(chunk(b"fmt ", b"\x01\x00\x02\x00")), "its format (fmt) chunk is too short"),
        (
            _riff(_FMT, chunk(b"data", _DATA, size=0)),
            "its audio (data) chunk says it holds 0 bytes (the recorder never finished the header)",
        ),
        (_riff(_FMT, chunk(b"data", _DATA), chunk(b"data", _DATA)), "it has two audio (data) chunks"),
        (_riff(_FMT, _FMT, chunk(b"data", _DATA)), "it has two format (fmt) chunks"),
        (
            _riff(chunk(b"LIST", b"abc", padded=False), _FMT, chunk(b"data", _DATA)),
            "a chunk with an odd size has no padding byte after it",
        ),
        (
            _riff(_FMT, chunk(b"data", _DATA, size=0xFFFFFFFF), kind=b"RF64"),
            "its RF64 size table (ds64 chunk) is missing",
        ),
    ],
)
def test_layouts_libsndfile_cannot_read_are_refused_with_a_reason(data, detail):
    with pytest.raises(WavError) as err:
        read_info(io.BytesIO(data), len(data))
    assert err.value.detail == detail
    with pytest.raises(sf.LibsndfileError):  # the refusal agrees with libsndfile ...
        if sf.read(io.BytesIO(data))[0].size == 0:  # ... which reads no audio from a 0-byte data chunk
            raise sf.LibsndfileError(0)


def test_streaming_data_size_runs_to_the_end_and_chunks_after_data_are_fine():
    data = _riff(_FMT, chunk(b"data", _DATA, size=0xFFFFFFFF))
    assert read_info(io.BytesIO(data), len(data)).frames == 10 == sf.info(io.BytesIO(data)).frames
    data = _riff(_FMT, chunk(b"data", _DATA[:6]), chunk(b"LIST", b"INFOabc"))
    assert read_info(io.BytesIO(data), len(data)).frames == 1 == sf.info(io.BytesIO(data)).frames


def test_missing_chunks_are_named():
    with pytest.raises(WavError) as err:
        read_info(io.BytesIO(b"RIFF\x04\x00\x00\x00WAVE"), 12)
    assert err.value.missing == ("fmt", "data")


def test_a_flood_of_chunks_before_the_audio_is_refused_as_such_not_as_missing_chunks():
    """The stranger's file: 5,000 empty 'junk' chunks, then fmt and data, which libsndfile reads."""
    flood = _riff(*[chunk(b"junk", b"")] * 5000, _FMT, chunk(b"data", _DATA))
    assert sf.info(io.BytesIO(flood)).frames == 10
    with pytest.raises(WavError) as err:
        read_info(io.BytesIO(flood), len(flood))
    assert err.value.missing == () and err.value.chunk_limit == 1024
    assert err.value.detail == "it has more than 1,024 chunks before the audio"
    fewer = _riff(*[chunk(b"junk", b"")] * 1000, _FMT, chunk(b"data", _DATA))
    assert read_info(io.BytesIO(fewer), len(fewer)).frames == 10 == sf.info(io.BytesIO(fewer)).frames
