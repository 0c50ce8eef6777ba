"""The audio corpus: every rule, disguised formats, lying headers, each with its exact code."""

import numpy as np
import pyloudnorm
import pytest

from beatpass_common.events import ObjectRef
from beatpass_validation.audio import check_audio, estimated


@pytest.fixture
def check(store, settings, gen):
    def run(data: bytes | None, **overrides):
        s = settings.model_copy(update=overrides)
        ref = (
            gen.put(store, s, "a.wav", data)
            if data is not None
            else ObjectRef(bucket=s.uploads_bucket, key="never-uploaded", size=0)
        )
        result = check_audio(store, ref, s)
        if result.facts is not None:  # what the handler does next, in its own child call
            result.facts = estimated(result.facts, result.excerpts, s)
        return result

    return run


def codes(result):
    return [p.code for p in result.problems]


# --- good files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, channels, bits",
    [
        ({"bits": 16}, 2, 16),
        ({"bits": 16}, 1, 16),
        ({"bits": 24}, 2, 24),
        ({"bits": 32}, 2, 32),
        ({"enc": "float", "bits": 32}, 2, 32),
        ({"enc": "float", "bits": 32}, 1, 32),
        ({"bits": 24, "extensible": True}, 2, 24),
        ({"enc": "float", "bits": 32, "extensible": True}, 2, 32),
        ({"bits": 24, "rf64": True}, 2, 24),
        ({"bits": 16, "data_size": 0xFFFFFFFF}, 2, 16),  # streaming writer
    ],
    ids=lambda v: str(v),
)
def test_good_wavs_pass_with_their_facts(check, gen, kwargs, channels, bits):
    x = gen.music(11.0, channels=channels)
    result = check(gen.wav(x, **kwargs))
    assert result.problems == []
    f = result.facts
    assert (f.sample_rate, f.bit_depth, f.channels) == (44100, bits, channels)
    assert f.format == ("RF64" if kwargs.get("rf64") else "WAV") + (" float" if kwargs.get("enc") else " PCM")
    assert f.duration_s == pytest.approx(11.0)
    assert f.peak_dbfs == pytest.approx(20 * np.log10(np.abs(x).max()), abs=0.01)
    assert f.clipped_ratio == 0.0
    assert f.loudness_lufs == pytest.approx(pyloudnorm.Meter(44100).integrated_loudness(x), abs=0.1)
    assert f.estimated_bpm == pytest.approx(120, abs=2) and f.bpm_confidence > 0.5
    assert f.estimated_key == "A minor" and f.key_confidence > 0.5


@pytest.mark.parametrize("rate", [48000, 96000])
def test_high_rates_and_metadata_chunks(check, gen, rate):
    data = gen.wav(
        gen.music(10.5, rate=rate, bpm=140),
        rate,
        bits=24,
        before=[gen.chunk(b"bext", b"b" * 601)],
        after=[gen.chunk(b"LIST", b"INFOx")],
    )
    result = check(data)
    assert result.problems == []
    assert result.facts.sample_rate == rate and result.facts.estimated_bpm == pytest.approx(140, abs=2)


def test_clipping_is_measured_not_rejected(check, gen):
    x = np.clip(gen.music(11.0) * 4, -1, 1)
    result = check(gen.wav(x))
    assert result.problems == []
    assert result.facts.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert result.facts.clipped_ratio == pytest.approx(np.mean(np.abs(x) >= 1.0), rel=0.01)
    assert result.facts.clipped_ratio > 0.001


def _float_peaking_at(gen, peak: float) -> bytes:
    x = gen.music(11.0)
    return gen.wav(x * (peak / np.abs(x).max()), enc="float", bits=32)


@pytest.mark.parametrize("peak, shown", [(1000.0, "+60.0"), (3.4e38, "+770.6")])
def test_float_samples_far_beyond_full_scale_are_refused(check, gen, peak, shown):
    """The stranger's files: ±1000.0 read as +60 dBFS and 56 LUFS, ±3.4e38 as +770 dBFS, no loudness."""
    result = check(_float_peaking_at(gen, peak))
    assert [p.model_dump() for p in result.problems] == [
        {
            "code": "AUDIO_FLOAT_OUT_OF_RANGE",
            "field": "audio",
            "message": f"This track's float samples peak at {shown} dBFS, above full scale (0 dBFS). BeatPass "
            "accepts float audio peaking at most +6 dBFS. Normalise the track to 0 dBFS and export it again.",
        }
    ]


def test_float_headroom_up_to_the_limit_passes_with_its_clipping_measured(check, gen):
    result = check(_float_peaking_at(gen, 10 ** (5.9 / 20)))
    assert result.problems == [] and result.facts.peak_dbfs == pytest.approx(5.9, abs=0.01)
    assert result.facts.clipped_ratio > 0
    assert codes(check(_float_peaking_at(gen, 10 ** (5.9 / 20)), float_peak_max_dbfs=3.0)) == [
        "AUDIO_FLOAT_OUT_OF_RANGE"
    ]


# --- the rules -------------------------------------------------------------------------------


def test_exact_sentences(check, gen, encoded):
    mp3 = check(encoded("mp3"))
    assert mp3.problems[0].model_dump() == {
        "code": "AUDIO_NOT_WAV",
        "field": "audio",
        "message": "This file is MP3 audio, not WAV. BeatPass accepts WAV audio only.",
    }
    rate = check(gen.wav(gen.music(11.0, rate=22050), 22050))
    assert rate.problems[0].message == "This file's sample rate is 22.05 kHz. BeatPass accepts 44.1 kHz to 192 kHz."
    short = check(gen.wav(gen.music(4.25)))
    assert short.problems[0].message == (
        "This track is 4.25 seconds long. BeatPass accepts tracks from 10 seconds to 20 minutes long."
    )
    depth = check(gen.wav(bits=8))
    assert depth.problems[0].message == (
        "This WAV file is 8-bit PCM. BeatPass accepts 16, 24 or 32-bit PCM or 32-bit float WAV audio."
    )


@pytest.mark.parametrize(
    "ext, args, phrase",
    [
        ("mp3", (), "MP3 audio"),
        ("mp3", ("--add-id3v2", "--tt", "x"), "MP3 audio"),
        ("flac", (), "FLAC audio"),
        ("aiff", (), "AIFF audio"),
        ("ogg", (), "Ogg Vorbis audio"),
        ("caf", (), "Core Audio (CAF) audio"),
        ("w64", (), "Sony Wave64 audio"),
    ],
)
def test_disguised_formats(check, encoded, ext, args, phrase):
    result = check(encoded(ext, *args))
    assert codes(result) == ["AUDIO_NOT_WAV"]
    assert result.problems[0].message.startswith(f"This file is {phrase}, not WAV.")


@pytest.mark.parametrize(
    "args, code",
    [
        (("-e", "ima-adpcm"), "AUDIO_ENCODING"),
        (("-e", "u-law"), "AUDIO_ENCODING"),
        (("-e", "a-law"), "AUDIO_ENCODING"),
        (("-b", "8"), "AUDIO_BIT_DEPTH"),
        (("-e", "floating-point", "-b", "64"), "AUDIO_BIT_DEPTH"),
    ],
)
def test_wavs_sox_writes_that_are_not_accepted(check, encoded, args, code):
    assert codes(check(encoded("wav", *args)))[0] == code


def _m4a():
    return b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom\x00\x00\x00\x00" + b"\x00" * 200


def test_synthesized_disguises(check, gen):
    m4a = check(_m4a())
    assert m4a.problems[0].message == "This file is M4A/AAC audio, not WAV. BeatPass accepts WAV audio only."
    assert codes(check(b"RIFX" + gen.wav()[4:])) == ["AUDIO_NOT_WAV"]


def test_corpus_of_bad_inputs(check, gen):
    rng = np.random.default_rng(3)
    full = gen.wav(gen.music(11.0))
    cases = {
        "empty": (b"", ["AUDIO_EMPTY"]),
        "random bytes": (rng.bytes(50_000), ["AUDIO_NOT_WAV"]),
        "random after a RIFF header": (b"RIFF\x00\x00\x00\x00WAVE" + rng.bytes(5000), ["AUDIO_BAD_HEADER"]),
        "header only": (full[:44], ["AUDIO_TRUNCATED"]),
        "truncated": (full[: len(full) // 2], ["AUDIO_TRUNCATED"]),
        "truncated inside the header": (full[:30], ["AUDIO_BAD_HEADER"]),
        "22.05 kHz": (gen.wav(gen.music(11.0, rate=22050), 22050), ["AUDIO_SAMPLE_RATE"]),
        "8 kHz": (gen.wav(gen.music(11.0, rate=8000), 8000), ["AUDIO_SAMPLE_RATE"]),
        "384 kHz": (gen.wav(gen.music(11.0, rate=8000), 384000), ["AUDIO_SAMPLE_RATE", "AUDIO_TOO_SHORT"]),
        "6 channels": (gen.wav(gen.music(11.0, channels=6)), ["AUDIO_CHANNELS"]),
        "too short": (gen.wav(gen.music(4.0)), ["AUDIO_TOO_SHORT"]),
        "digital silence": (gen.wav(np.zeros((44100 * 11, 2))), ["AUDIO_SILENT"]),
        "-70 dBFS hiss": (gen.wav(rng.uniform(-3e-4, 3e-4, (44100 * 11, 2)), bits=24), ["AUDIO_SILENT"]),
        "NaN floats": (
            gen.wav(np.where(np.arange(44100 * 11)[:, None] == 300_000, np.nan, gen.music(11.0)), enc="float", bits=32),
            ["AUDIO_CORRUPT"],
        ),
        "infinite floats": (gen.wav(np.full((44100 * 11, 1), np.inf), enc="float", bits=32), ["AUDIO_CORRUPT"]),
        "MP3 inside WAV": (gen.wav(tag=0x55, bits=16), ["AUDIO_ENCODING"]),
        "64-bit float": (gen.wav(enc="float", bits=64), ["AUDIO_BIT_DEPTH"]),
        "two problems at once": (gen.wav(np.zeros((22050 * 11, 2)), 22050), ["AUDIO_SAMPLE_RATE", "AUDIO_SILENT"]),
        "fmt missing": (gen.wav(omit_fmt=True), ["AUDIO_MISSING_FMT"]),
        "data missing": (gen.wav(omit_data=True), ["AUDIO_MISSING_DATA"]),
    }
    found = {name: codes(check(data)) for name, (data, _) in cases.items()}
    assert found == {name: expected for name, (_, expected) in cases.items()}


def test_an_enormous_rf64_size_table_reads_as_a_sensible_duration(check, gen):
    """The stranger's ds64 said 2^62 bytes: "435722412927 minutes 45 seconds" before."""
    result = check(gen.wav(gen.music(11.0), rf64=True, data_size=2**62))
    assert [(p.code, p.message) for p in result.problems] == [
        (
            "AUDIO_TRUNCATED",
            "The audio is cut short: the WAV header promises more than 100 hours of audio but the "
            "file holds only 11 seconds. Upload the complete file.",
        ),
        (
            "AUDIO_TOO_LONG",
            "This track is more than 100 hours long. BeatPass accepts tracks from 10 seconds to 20 minutes long.",
        ),
    ]


def test_missing_object(check):
    assert codes(check(None)) == ["AUDIO_MISSING"]


def test_limits_come_from_settings(check, gen):
    data = gen.wav(gen.music(11.0))
    assert codes(check(data, audio_max_s=10.5)) == ["AUDIO_TOO_LONG"]
    too_big = check(data, audio_max_bytes=1_000_000)
    assert codes(too_big) == ["AUDIO_TOO_LARGE"]
    assert too_big.problems[0].message == "The audio file is 1.9 MB. BeatPass accepts audio files up to 1 MB."
    assert codes(check(data, sample_rate_min=48000)) == ["AUDIO_SAMPLE_RATE"]


def test_too_long_is_judged_from_the_header_without_decoding(check, gen, store, settings, monkeypatch):
    import beatpass_validation.audio as audio

    monkeypatch.setattr(audio, "decode", lambda *a, **k: pytest.fail("decoded a file the header already rejects"))
    assert codes(check(gen.wav(gen.music(11.0)), audio_max_s=10.0)) == ["AUDIO_TOO_LONG"]


def test_an_object_shorter_than_its_stat_is_truncation(store, settings, gen):
    import io

    data = gen.wav(gen.music(11.0))
    ref = gen.put(store, settings, "shrinking.wav", data)

    class Shrinking:
        def __getattr__(self, name):
            return getattr(store, name)

        def open(self, bucket, key, offset=0, length=None):
            return io.BytesIO(data[offset : offset + (length or len(data)) // 2])

    assert codes(check_audio(Shrinking(), ref, settings)) == ["AUDIO_TRUNCATED"]


@pytest.mark.parametrize("rate", [1, 536_870_911])  # the highest whose byte rate fits the fmt chunk
def test_absurd_rates_are_reported_with_bounded_decode_memory(check, gen, rate):
    """The loudness meter's 100 ms segments once set the decode block: 0.1 s at 537 MHz, 8 bytes
    a frame, asked for a 430 MB buffer. Outside the rates it can measure it takes no part."""
    import tracemalloc

    x = np.tile([[0.5, -0.5], [-0.5, 0.5]], (50, 1))
    tracemalloc.start()
    try:
        result = check(gen.wav(x, rate, bits=32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "AUDIO_SAMPLE_RATE" in codes(result)
    assert peak < 64 * 2**20
