import pytest

from beatpass_common import bpm
from beatpass_common.config import Settings
from beatpass_validation import rules


@pytest.mark.parametrize(
    "declared, estimated, agrees",
    [
        (120, 120.4, True),
        (120, 123.0, True),
        (60, 120.0, True),
        (140, 70.2, True),
        (87, 174.5, True),
        (90, 120.0, False),
        (128, 120.0, False),
        (100, 150.0, False),
    ],
)
def test_bpm_half_and_double_time_agree(declared, estimated, agrees):
    assert bpm.agrees(declared, estimated) is agrees


def test_bpm_warning_sentence():
    p = bpm.mismatch(90, 120.3)
    assert (p.code, p.field) == ("BPM_MISMATCH", "bpm")
    assert p.message == "You entered 90 BPM, but the audio sounds like about 120 BPM. Check the BPM before publishing."


@pytest.mark.parametrize(
    "seconds, text",
    [
        (4.25, "4.25 seconds"),
        (10.0, "10 seconds"),
        (59.999, "60 seconds"),
        (60, "1 minute"),
        (61, "1 minute 1 second"),
        (1500, "25 minutes"),
        (1263.4, "21 minutes 3 seconds"),
        (3600, "1 hour"),
        (5460, "1 hour 31 minutes"),
        (7200.4, "2 hours"),
        (100 * 3600, "100 hours"),
        (100 * 3600 + 1, "more than 100 hours"),
        (2**63 / 176400, "more than 100 hours"),
    ],
)
def test_durations_read_naturally(seconds, text):
    assert rules.duration(seconds) == text


def test_sizes_and_rates():
    assert rules.size(2 * 10**9) == "2 GB"
    assert rules.size(20 * 10**6) == "20 MB"
    assert rules.size(25_376_283) == "25.4 MB"  # as the page's file card shows it (decimal units)
    assert rules.size(1_500) == "1.5 kB"
    assert rules.size(512) == "512 bytes"
    assert rules.khz(44100) == "44.1 kHz" and rules.khz(192000) == "192 kHz" and rules.khz(22050) == "22.05 kHz"


def test_cover_sentences_follow_settings():
    s = Settings()
    assert rules.cover_dimensions(800, 800, s).message == (
        "This image is 800 × 800 pixels. BeatPass accepts square cover art from 1,000 × 1,000 to 6,000 × 6,000 pixels."
    )
    assert rules.cover_not_square(1600, 1200, s).message == (
        "This image is 1,600 × 1,200 pixels, which is not square. "
        "BeatPass accepts square cover art (width and height within 1 % of each other)."
    )


def test_codes_are_unique_per_rule():
    s = Settings()
    from beatpass_common.sniff import UNKNOWN

    problems = [
        rules.audio_missing(),
        rules.audio_empty(),
        rules.audio_too_large(1, 1),
        rules.not_wav(UNKNOWN),
        rules.bad_header("x"),
        rules.missing_fmt(),
        rules.missing_data(),
        rules.encoding(2),
        rules.bit_depth("pcm", 8),
        rules.sample_rate(1, 1, 1),
        rules.channels(3),
        rules.too_short(1, s),
        rules.too_long(1, s),
        rules.truncated(2, 1),
        rules.corrupt_float(1),
        rules.silent(None, -60),
        rules.cover_missing(),
        rules.cover_empty(),
        rules.cover_too_large(1, 1),
        rules.cover_format(UNKNOWN),
        rules.cover_polyglot(UNKNOWN, "x"),
        rules.cover_corrupt(UNKNOWN),
        rules.cover_dimensions(1, 1, s),
        rules.cover_not_square(1, 2, s),
        bpm.mismatch(1, 2),
        rules.estimate_skipped(),
    ]
    assert len({p.code for p in problems}) == len(problems)
    assert all(p.message.endswith(".") for p in problems)
