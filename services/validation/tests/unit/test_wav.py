import io
import struct

import numpy as np
import pytest

from beatpass_validation.decode import decode
from beatpass_validation.wav import IEEE_FLOAT, PCM, WavError, parse_header


def parse(data: bytes):
    return parse_header(lambda offset, length: data[offset:offset + length], len(data))


def tone(seconds=0.5, rate=44100, channels=2):
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * 440 * t))[:, None], channels, axis=1)


def decoded_peak(data: bytes) -> float:
    h = parse(data)
    stream = io.BytesIO(data)
    stream.seek(h.data_offset)
    return decode(stream, h).peak


def test_plain_pcm16(gen):
    data = gen.wav(tone(), bits=16)
    h = parse(data)
    assert (h.container, h.format_tag, h.channels, h.sample_rate, h.bits) == ("WAV", PCM, 2, 44100, 16)
    assert h.data_offset == 44 and h.frames == 22050 and not h.truncated
    assert decoded_peak(data) == pytest.approx(0.5, abs=1e-3)


def test_metadata_chunks_in_any_order_with_odd_sizes(gen):
    odd = [gen.chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Tool\x00"), gen.chunk(b"bext", b"x" * 603),
           gen.chunk(b"junk", b"\x00" * 7), gen.chunk(b"iXML", b"<BWFXML/>")]
    data = gen.wav(tone(), bits=24, before=odd[:2], after=odd[2:])
    h = parse(data)
    assert h.bits == 24 and h.frames == 22050
    assert decoded_peak(data) == pytest.approx(0.5, abs=1e-4)


def test_spec_violations_the_readers_after_us_cannot_follow_are_named(gen):
    for data, detail in (
        (gen.wav(tone(), before=[gen.chunk(b"LIST", b"abc", pad=False)]),
         "its 'LIST' chunk has an odd size but no padding byte after it"),
        (gen.wav(tone(), fmt_after_data=True), "its format (fmt) chunk comes after the audio (data) chunk"),
    ):
        with pytest.raises(WavError) as err:
            parse(data)
        assert err.value.problems[0].code == "AUDIO_BAD_HEADER"
        assert err.value.problems[0].message == (f"This WAV file's header is damaged: {detail}. "
                                                 "Export the track again as a WAV file.")


@pytest.mark.parametrize("enc, bits, tag", [("pcm", 24, PCM), ("float", 32, IEEE_FLOAT), ("pcm", 16, PCM)])
def test_extensible_resolves_the_subformat(gen, enc, bits, tag):
    h = parse(gen.wav(tone(), enc=enc, bits=bits, extensible=True))
    assert (h.format_tag, h.bits, h.encoding) == (tag, bits, enc)


def test_rf64_takes_the_data_size_from_ds64(gen):
    data = gen.wav(tone(), bits=24, rf64=True, after=[gen.chunk(b"LIST", b"INFO")])
    h = parse(data)
    assert h.container == "RF64" and h.declared_bytes == 22050 * 6 and h.frames == 22050


@pytest.mark.parametrize("size, rf64", [(0, False), (0xFFFFFFFF, False), (0, True)])
def test_streaming_data_size_runs_to_end_of_file(gen, size, rf64):
    data = gen.wav(tone(), data_size=size, rf64=rf64)
    h = parse(data)
    assert h.declared_bytes is None and h.frames == 22050 and not h.truncated


def test_data_size_larger_than_file_is_truncation(gen):
    full = gen.wav(tone())
    h = parse(full[: len(full) // 2])
    assert h.truncated and h.declared_duration_s == pytest.approx(0.5) and h.duration_s < 0.26


def test_partial_last_frame_is_dropped(gen):
    data = gen.wav(tone(), bits=24)[:-1]
    assert parse(data).frames == 22049


@pytest.mark.parametrize("kwargs, code", [
    ({"omit_fmt": True}, "AUDIO_MISSING_FMT"),
    ({"omit_data": True}, "AUDIO_MISSING_DATA"),
    ({"fmt": b"\x01\x00\x02\x00"}, "AUDIO_BAD_HEADER"),  # fmt chunk of 4 bytes
    ({"fmt": struct.pack("<HHIIHH", 1, 0, 44100, 0, 0, 16)}, "AUDIO_BAD_HEADER"),  # no channels
    ({"fmt": struct.pack("<HHIIHH", 1, 2, 44100, 44100 * 4, 3, 16)}, "AUDIO_BAD_HEADER"),  # frame size lies
    ({"fmt": struct.pack("<HHIIHH", 0xFFFE, 2, 44100, 0, 4, 16)}, "AUDIO_BAD_HEADER"),  # extensible, cut short
    ({"before": [b"JUNK" + struct.pack("<I", 10**9)]}, "AUDIO_BAD_HEADER"),  # chunk claims more than the file
    ({"before": [b"\x00\x01\x02\x03garbage!"]}, "AUDIO_BAD_HEADER"),  # not a chunk at all
])
def test_unusable_headers(gen, kwargs, code):
    with pytest.raises(WavError) as err:
        parse(gen.wav(tone(0.1), **kwargs))
    assert [p.code for p in err.value.problems] == [code]


def test_missing_fmt_and_data_are_both_reported(gen):
    with pytest.raises(WavError) as err:
        parse(b"RIFF\x04\x00\x00\x00WAVE")
    assert [p.code for p in err.value.problems] == ["AUDIO_MISSING_FMT", "AUDIO_MISSING_DATA"]


def test_endless_tiny_chunks_stop_the_walk(gen):
    many = [gen.chunk(b"JUNK", b"") for _ in range(5000)]
    with pytest.raises(WavError) as err:
        parse(gen.wav(tone(0.1), before=many))
    assert {p.code for p in err.value.problems} == {"AUDIO_MISSING_FMT", "AUDIO_MISSING_DATA"}
