"""Every refusal the common reader (beatpass_common.wav) can make of a WAV header, and every rule
judged from the header alone, through ``check_audio``: the code and the exact sentence."""

from __future__ import annotations

import ast
import inspect
import re
import struct

import numpy as np
import pytest

from beatpass_common import wav as common_wav
from beatpass_common.testing.media import left_justified_pcm_wav
from beatpass_validation.audio import check_audio

DAMAGED = "This WAV file's header is damaged: {}. Export the track again as a WAV file."
NO_FMT = (
    "AUDIO_MISSING_FMT",
    "This WAV file has no format (fmt) chunk, so its audio cannot be read. Export the track again as a WAV file.",
)
NO_DATA = ("AUDIO_MISSING_DATA", "This WAV file has no audio (data) chunk. Export the track again as a WAV file.")
# Not "no fmt chunk": the file has both, libsndfile reads it; the walk stops before reaching them.
TOO_MANY_CHUNKS = (
    "AUDIO_BAD_HEADER",
    "This WAV file has more than 1,024 chunks before its audio, so BeatPass "
    "does not read it (WAV files have a handful). Export the track again as a "
    "WAV file.",
)
ACCEPTED = "BeatPass accepts 16, 24 or 32-bit PCM or 32-bit float WAV audio."


def _riff(*chunks: bytes, kind: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return kind + struct.pack("<I", 0xFFFFFFFF if kind != b"RIFF" else len(body)) + body


def _tone(seconds: float = 0.1, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * 44100)) / 44100
    return np.repeat((0.5 * np.sin(2 * np.pi * 440 * t))[:, None], channels, axis=1)


def _header_cases(gen) -> dict[str, tuple[bytes, str, list[tuple[str, str]]]]:
    """name -> (file, the reader's detail or "", the problems validation reports)."""
    fmt = gen.chunk(b"fmt ", gen.fmt_chunk(2, 44100, 16))
    data = gen.chunk(b"data", b"\x01\x02\x03\x04" * 10)
    ds64 = gen.chunk(b"ds64", struct.pack("<QQQI", 0, 40, 10, 0))
    rf64_data = b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\x01\x02\x03\x04" * 10
    x = _tone()
    cases = {
        "no chunks at all": (_riff(), "it has no fmt and no data chunk", [NO_FMT, NO_DATA]),
        "no data chunk": (gen.wav(x, omit_data=True), "it has no data chunk", [NO_DATA]),
        "fmt only after the data": (
            gen.wav(x, fmt_after_data=True),
            "it has no format (fmt) chunk before the audio (data) chunk",
            [NO_FMT],
        ),
        "endless empty chunks": (
            gen.wav(x, before=[gen.chunk(b"junk", b"")] * 5000),
            "it has more than 1,024 chunks before the audio",
            [TOO_MANY_CHUNKS],
        ),
        "RF64 without ds64": (_riff(fmt, rf64_data, kind=b"RF64"), "its RF64 size table (ds64 chunk) is missing", None),
        "ds64 too short": (
            _riff(gen.chunk(b"ds64", bytes(16)), fmt, rf64_data, kind=b"RF64"),
            "its RF64 size table (ds64 chunk) is too short",
            None,
        ),
        "odd chunk in RF64": (
            _riff(ds64, gen.chunk(b"LIST", b"abc"), fmt, rf64_data, kind=b"RF64"),
            "its 'LIST' chunk has an odd size, which RF64 readers do not follow",
            None,
        ),
        "chunk larger than the file": (
            gen.wav(x, before=[b"JUNK" + struct.pack("<I", 10**9)]),
            "its 'JUNK' chunk claims 1,000,000,000 bytes but the file ends before that",
            None,
        ),
        "two fmt chunks": (gen.wav(x, before=[fmt]), "it has two format (fmt) chunks", None),
        "fmt far too long": (
            gen.wav(x, fmt=gen.fmt_chunk(2, 44100, 16) + bytes(5000)),
            "its format (fmt) chunk is 5,016 bytes long",
            None,
        ),
        "fmt too short": (gen.wav(x, fmt=b"\x01\x00\x02\x00"), "its format (fmt) chunk is too short", None),
        "extensible fmt too short": (
            gen.wav(x, fmt=struct.pack("<HHIIHH", 0xFFFE, 2, 44100, 0, 4, 16)),
            "its extensible format (fmt) chunk is too short",
            None,
        ),
        "odd chunk without padding": (
            gen.wav(x, before=[gen.chunk(b"LIST", b"abc", pad=False)]),
            "a chunk with an odd size has no padding byte after it",
            None,
        ),
        "odd chunk at the end without padding": (
            _riff(fmt, gen.chunk(b"LIST", b"abc", pad=False)),
            "the file ends inside its 'LIST' chunk",
            None,
        ),
        "garbage where a chunk starts": (
            gen.wav(x, before=[b"\x00\x01\x02\x03garbage!"]),
            "there is unreadable data where a chunk should start (byte 12)",
            None,
        ),
        "file ends inside a chunk header": (_riff(fmt, b"dat"), "the file ends inside its chunk header", None),
        "data size 0": (
            gen.wav(x, data_size=0),
            "its audio (data) chunk says it holds 0 bytes (the recorder never finished the header)",
            None,
        ),
        "two data chunks": (gen.wav(x, after=[data]), "it has two audio (data) chunks", None),
        "fmt again after the data": (
            gen.wav(x, after=[fmt]),
            "its format (fmt) chunk comes after the audio (data) chunk",
            None,
        ),
    }
    return {
        name: (data, detail, problems or [("AUDIO_BAD_HEADER", DAMAGED.format(detail))])
        for name, (data, detail, problems) in cases.items()
    }


# Refusals that sniffing makes first (a file must start "RIFF....WAVE" or "RF64....WAVE" to be
# WAV at all: AUDIO_NOT_WAV otherwise), or that a reader given the file's size cannot reach (the
# chunk-size check comes before any read past the end).
UNREACHABLE = {"it does not start like a RIFF/RF64 WAVE file", "the file ends inside a chunk"}


@pytest.fixture
def check(store, settings, gen):
    def run(data: bytes, **overrides):
        s = settings.model_copy(update=overrides)
        return check_audio(store, gen.put(store, s, "a.wav", data), s).problems

    return run


@pytest.fixture
def header_cases(gen):
    return _header_cases(gen)


def test_every_header_refusal_is_a_stable_code_with_its_sentence(check, header_cases):
    found = {name: [(p.code, p.message) for p in check(data)] for name, (data, _, _) in header_cases.items()}
    assert found == {name: problems for name, (_, _, problems) in header_cases.items()}


def _refusals() -> set[str]:
    """The phrase of every ``WavError`` the common reader raises, each computed part as {...}."""

    def text(node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(text(v) for v in node.values)
        if isinstance(node, ast.BinOp):
            return text(node.left) + text(node.right)
        return "{...}"

    return {
        text(n.args[0])
        for n in ast.walk(ast.parse(inspect.getsource(common_wav)))
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "WavError"
    }


def test_the_cases_cover_every_refusal_of_the_reader(header_cases):
    refusals = _refusals()
    assert len(refusals) > 15  # the walk found the reader's refusals
    details = [detail for _, detail, _ in header_cases.values()]
    patterns = {r: re.compile(re.escape(r).replace(re.escape("{...}"), ".+")) for r in refusals - UNREACHABLE}
    assert {r for r, pattern in patterns.items() if not any(pattern.fullmatch(d) for d in details)} == set()


@pytest.mark.parametrize(
    "x, bits, container, align",
    [
        (_tone(11.0), 24, 32, 8),  # 24-bit samples in 8-byte stereo frames (the shared case)
        (_tone(11.0, channels=1), 16, 24, 3),  # 16-bit samples in 3-byte mono frames
    ],
)
def test_a_frame_size_readers_disagree_on_is_audio_layout(check, x, bits, container, align):
    problems = check(left_justified_pcm_wav(x, bits, container, 44100))
    channels = x.shape[1]
    width = channels * bits // 8
    assert [(p.code, p.field, p.message) for p in problems] == [
        (
            "AUDIO_LAYOUT",
            "audio",
            f"This WAV file's frame size ({align} bytes) does not match its {channels} channel{'s' * (channels > 1)} "
            f"of {bits}-bit samples ({width} bytes), so audio programs disagree on how to play it. "
            f"Export the track again as a standard WAV file. {ACCEPTED}",
        )
    ]


def test_20_bit_samples_in_3_byte_containers_are_24_bit_pcm(store, settings, gen):
    data = left_justified_pcm_wav(_tone(11.0), 20, 24, 44100)
    result = check_audio(store, gen.put(store, settings, "a.wav", data), settings)
    assert result.problems == []
    assert (result.facts.format, result.facts.bit_depth, result.facts.sample_rate) == ("WAV PCM", 24, 44100)


def test_an_extensible_frame_size_disagreement_is_audio_layout(check, gen):
    fmt = bytearray(gen.fmt_chunk(2, 44100, 24, extensible=True))
    fmt[12:14] = struct.pack("<H", 8)  # nBlockAlign
    assert [(p.code, p.message) for p in check(gen.wav(_tone(11.0), bits=24, fmt=bytes(fmt)))] == [
        (
            "AUDIO_LAYOUT",
            "This WAV file's frame size (8 bytes) does not match its 2 channels of 24-bit samples "
            f"(6 bytes), so audio programs disagree on how to play it. Export the track again as a "
            f"standard WAV file. {ACCEPTED}",
        )
    ]


def _file(fmt: bytes, present: int, declared: int | None = None) -> bytes:
    return _riff(
        b"fmt " + struct.pack("<I", len(fmt)) + fmt,
        b"data" + struct.pack("<I", present if declared is None else declared) + b"\x01" * present,
    )


@pytest.mark.parametrize(
    "fmt, present, expected",
    [
        (
            struct.pack("<HHIIHH", 0x0011, 2, 44100, 0, 2048, 4),
            2048,
            [("AUDIO_ENCODING", f"This WAV file holds IMA ADPCM audio (format tag 0x0011), not PCM. {ACCEPTED}")],
        ),
        (
            struct.pack("<HHIIHH", 3, 2, 44100, 0, 16, 64),
            16,
            [("AUDIO_BIT_DEPTH", f"This WAV file is 64-bit float. {ACCEPTED}")],
        ),
        (
            struct.pack("<HHIIHH", 1, 2, 44100, 0, 2, 8),
            2,
            [("AUDIO_BIT_DEPTH", f"This WAV file is 8-bit PCM. {ACCEPTED}")],
        ),
        (
            struct.pack("<HHIIHH", 1, 6, 44100, 0, 12, 16),
            12,
            [("AUDIO_CHANNELS", "This file has 6 channels. BeatPass accepts mono or stereo audio (1 or 2 channels).")],
        ),
        (
            struct.pack("<HHIIHH", 1, 2, 22050, 0, 4, 16),
            4,
            [("AUDIO_SAMPLE_RATE", "This file's sample rate is 22.05 kHz. BeatPass accepts 44.1 kHz to 192 kHz.")],
        ),
    ],
    ids=["ADPCM", "64-bit float", "8-bit PCM", "6 channels", "22.05 kHz"],
)
def test_rules_judged_from_the_header_alone(check, fmt, present, expected):
    assert [(p.code, p.message) for p in check(_file(fmt, present), audio_min_s=0.0)] == expected


@pytest.mark.parametrize(
    "fmt, expected",
    [
        (
            struct.pack("<HHIIHH", 1, 0, 44100, 0, 0, 16),
            [("AUDIO_BAD_HEADER", DAMAGED.format("it declares 0 channels at 44,100 Hz"))],
        ),
        (
            struct.pack("<HHIIHH", 1, 2, 0, 0, 4, 16),
            [
                ("AUDIO_BAD_HEADER", DAMAGED.format("it declares 2 channels at 0 Hz")),
                ("AUDIO_SAMPLE_RATE", "This file's sample rate is 0 kHz. BeatPass accepts 44.1 kHz to 192 kHz."),
            ],
        ),
    ],
    ids=["no channels", "no rate"],
)
def test_a_header_without_channels_or_rate_says_nothing_of_a_length_it_cannot_have(check, fmt, expected):
    """Whole or cut short: without a frame size or a rate there is no length to judge (a cut-short
    one once raised TypeError from the truncation sentence, and the bus retried a producer's file)."""
    assert [(p.code, p.message) for p in check(_file(fmt, 8))] == expected
    assert [(p.code, p.message) for p in check(_file(fmt, 8, declared=100))] == expected


def test_a_truncated_header_names_both_lengths(check, gen):
    full = gen.wav(gen.music(11.0))
    assert [(p.code, p.message) for p in check(full[: len(full) // 2])] == [
        (
            "AUDIO_TRUNCATED",
            "The audio is cut short: the WAV header promises 11 seconds of audio but the file holds "
            "only 5.5 seconds. Upload the complete file.",
        )
    ]
