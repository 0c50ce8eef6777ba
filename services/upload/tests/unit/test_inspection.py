"""The gateway's inspection of a complete upload (inspection.py) on a local store: the codes and
exact sentences validation gives (beatpass_common.media_rules), from headers only."""

from __future__ import annotations

import io
import struct
import subprocess

import pytest
from PIL import Image

from beatpass_common.config import Settings
from beatpass_common.storage import LocalStore
from beatpass_common.testing.media import beat_wav, cover_bytes
from beatpass_upload.inspection import inspect
from beatpass_upload.models import Upload

BUCKET = "uploads"
NOT_SQUARE = (
    "This image is 600 × 400 pixels, which is not square. BeatPass accepts square cover art (width and "
    "height within 1 % of each other)."
)
DIMENSIONS = (
    "This image is 600 × 400 pixels. BeatPass accepts square cover art from 1,000 × 1,000 to 6,000 × 6,000 pixels."
)


class CountingStore(LocalStore):
    """Counts the bytes handed out, to show what an inspection reads."""

    read = 0

    def get_bytes(self, bucket, key, offset=0, length=None) -> bytes:
        data = super().get_bytes(bucket, key, offset, length)
        self.read += len(data)
        return data

    def open(self, bucket, key, offset=0, length=None):
        assert length is not None, "an inspection reads by ranges only"
        return super().open(bucket, key, offset, length)


@pytest.fixture
def store(tmp_path):
    s = CountingStore(tmp_path)
    s.ensure_bucket(BUCKET)
    return s


def upload(store, data: bytes, kind: str | None = None, name: str = "u") -> Upload:
    store.put_bytes(BUCKET, name, data)
    return Upload(id=name, bucket=BUCKET, key=name, length=len(data), meta={"kind": kind} if kind else {})


def encoded(tmp_path, tool: str, ext: str) -> bytes:
    """One second of music through a real encoder (lame, sox)."""
    source, out = tmp_path / "source.wav", tmp_path / f"out.{ext}"
    source.write_bytes(beat_wav(1.0))
    args = ["lame", "--quiet", str(source), str(out)] if tool == "lame" else ["sox", str(source), str(out)]
    subprocess.run(args, check=True)
    return out.read_bytes()


def problems(result) -> list[tuple[str, str, str]]:
    return [(p["field"], p["code"], p["message"]) for p in result["problems"]]


def test_a_good_wav_has_its_facts_and_no_problem(store):
    result = inspect(store, upload(store, beat_wav(12), "audio"), Settings())
    assert result == {
        "kind": "audio",
        "format": "wav",
        "problems": [],
        "facts": {"sample_rate": 44100, "bit_depth": 16, "channels": 2, "duration_s": 12.0},
    }


def test_an_mp3_renamed_wav_and_a_flac_are_named_for_what_they_are(store, tmp_path):
    mp3 = inspect(store, upload(store, encoded(tmp_path, "lame", "mp3"), "audio", "beat.wav"), Settings())
    assert (mp3["format"], mp3["facts"]) == ("mp3", None)
    assert problems(mp3) == [
        ("audio", "AUDIO_NOT_WAV", "This file is MP3 audio, not WAV. BeatPass accepts WAV audio only.")
    ]
    flac = inspect(store, upload(store, encoded(tmp_path, "sox", "flac"), "audio", "beat2.wav"), Settings())
    assert problems(flac) == [
        ("audio", "AUDIO_NOT_WAV", "This file is FLAC audio, not WAV. BeatPass accepts WAV audio only.")
    ]


def test_a_wav_cut_inside_its_header_and_one_cut_short(store):
    cut = inspect(store, upload(store, beat_wav(12)[:30], "audio"), Settings())
    assert problems(cut) == [
        (
            "audio",
            "AUDIO_BAD_HEADER",
            "This WAV file's header is damaged: its 'fmt ' chunk "
            "claims 16 bytes but the file ends before that. Export the track again as a WAV file.",
        )
    ]
    short = inspect(store, upload(store, beat_wav(12)[: 44 + 44100 * 4 * 3], "audio", "short"), Settings())
    assert [p[1] for p in problems(short)] == ["AUDIO_TRUNCATED"]
    assert short["facts"]["duration_s"] == 3.0
    assert problems(short)[0][2] == (
        "The audio is cut short: the WAV header promises 12 seconds of audio but the file "
        "holds only 3 seconds. Upload the complete file."
    )


def test_a_short_track_and_a_mono_48k_24_bit_one(store):
    five = inspect(store, upload(store, beat_wav(5), "audio"), Settings())
    assert problems(five) == [
        (
            "audio",
            "AUDIO_TOO_SHORT",
            "This track is 5 seconds long. BeatPass accepts tracks from 10 seconds to 20 minutes long.",
        )
    ]
    mono = inspect(store, upload(store, beat_wav(11, rate=48_000, bits=24, channels=1), "audio", "m"), Settings())
    assert mono["facts"] == {"sample_rate": 48000, "bit_depth": 24, "channels": 1, "duration_s": 11.0}
    assert mono["problems"] == []


def test_a_large_wav_is_judged_from_its_header_alone(store, tmp_path):
    """A 1.9 GB WAV (a sparse file here) costs a few kilobytes of reads, not the file."""
    data_bytes = 1_900_000_000
    fmt = struct.pack("<HHIIHH", 1, 2, 48_000, 48_000 * 6, 6, 24)
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )
    store.put_bytes(BUCKET, "big", header)
    with open(store._path(BUCKET, "big"), "r+b") as f:
        f.truncate(len(header) + data_bytes)
    big = Upload(id="big", bucket=BUCKET, key="big", length=len(header) + data_bytes, meta={"kind": "audio"})
    result = inspect(store, big, Settings())
    assert [p["code"] for p in result["problems"]] == ["AUDIO_TOO_LONG"]  # 1.8 hours of 24-bit stereo
    assert result["facts"]["duration_s"] == pytest.approx(data_bytes / 6 / 48_000)
    assert store.read <= 128 * 1024


def test_covers_are_judged_by_their_header(store):
    png = inspect(store, upload(store, cover_bytes(600, "PNG", height=400), "cover"), Settings())
    assert (png["format"], png["facts"]) == ("png", {"width": 600, "height": 400})
    assert problems(png) == [("cover", "COVER_DIMENSIONS", DIMENSIONS), ("cover", "COVER_NOT_SQUARE", NOT_SQUARE)]
    jpeg = inspect(store, upload(store, cover_bytes(1400), "cover", "ok.jpg"), Settings())
    assert (jpeg["format"], jpeg["facts"], jpeg["problems"]) == ("jpeg", {"width": 1400, "height": 1400}, [])


def test_what_is_not_a_jpeg_or_png_cover(store):
    text = inspect(store, upload(store, b"hello, this is not a picture\n" * 10, "cover"), Settings())
    assert problems(text) == [
        (
            "cover",
            "COVER_NOT_JPEG_OR_PNG",
            "This file is not a recognised image. BeatPass accepts JPEG or PNG cover art only.",
        )
    ]
    gif = io.BytesIO()
    Image.new("RGB", (1000, 1000)).save(gif, "GIF")
    assert problems(inspect(store, upload(store, gif.getvalue(), "cover", "g"), Settings())) == [
        (
            "cover",
            "COVER_NOT_JPEG_OR_PNG",
            "This file is a GIF image, not JPEG or PNG. BeatPass accepts JPEG or PNG cover art only.",
        )
    ]
    cut = inspect(store, upload(store, cover_bytes(1000, "PNG")[:20], "cover", "cut"), Settings())
    assert problems(cut) == [
        (
            "cover",
            "COVER_CORRUPT",
            "This image could not be read: a PNG image that is damaged or cut short. Export the artwork again.",
        )
    ]


def test_sizes_come_first_and_the_kind_is_guessed_when_not_declared(store):
    settings = Settings(cover_max_bytes=1000)
    big = inspect(store, upload(store, cover_bytes(1400), "cover"), settings)
    assert (big["format"], [p["code"] for p in big["problems"]]) == (None, ["COVER_TOO_LARGE"])
    assert problems(inspect(store, upload(store, b"", "audio", "e"), Settings())) == [
        ("audio", "AUDIO_EMPTY", "The audio file is empty (0 bytes). BeatPass accepts WAV audio only.")
    ]
    assert inspect(store, upload(store, cover_bytes(1000), None, "c"), Settings())["kind"] == "cover"
    assert inspect(store, upload(store, beat_wav(10), None, "w"), Settings())["kind"] == "audio"
    # the role a save gives an upload wins over what it declared
    assert inspect(store, upload(store, beat_wav(10), "cover", "w2"), Settings(), "audio")["problems"] == []


def test_a_cover_header_is_read_from_a_bounded_prefix_only(store):
    """Pillow walks a JPEG header byte by byte (a crafted 20 MiB one takes about a minute): it is
    shown at most ``cover_header_max_bytes``. A header that does not end there leaves the size to
    validation (no problem claimed); within a file shorter than that, it is damage."""
    settings = Settings(cover_header_max_bytes=64 * 1024)
    crafted = b"\xff\xd8" + b"\xff" * (4 << 20)  # fill bytes that never reach a frame header
    result = inspect(store, upload(store, crafted, "cover"), settings)
    assert (result["format"], result["facts"], result["problems"]) == ("jpeg", None, [])
    assert store.read <= 64 * 1024
    exif = b"\xff\xe1\xff\xfe" + b"x" * 65532  # large metadata before the dimensions (as some editors write)
    big_header = cover_bytes(1000)
    big_header = big_header[:2] + exif * 2 + big_header[2:]
    assert inspect(store, upload(store, big_header, "cover", "meta"), settings)["facts"] is None
    assert inspect(store, upload(store, big_header, "cover", "meta"), Settings())["facts"] == {
        "width": 1000,
        "height": 1000,
    }
    damaged = inspect(store, upload(store, b"\xff\xd8" + b"\xff" * 1000, "cover", "small"), settings)
    assert problems(damaged) == [
        (
            "cover",
            "COVER_CORRUPT",
            "This image could not be read: a JPEG image that is damaged or cut short. Export the artwork again.",
        )
    ]
