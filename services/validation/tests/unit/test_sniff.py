import io
import struct
import zipfile

import numpy as np
import pytest

from beatpass_common.sniff import id3_size, identify


@pytest.mark.parametrize(
    "ext, args, name",
    [
        ("mp3", (), "mp3"),
        ("mp3", ("--add-id3v2", "--tt", "Night Drive"), "mp3"),
        ("flac", (), "flac"),
        ("aiff", (), "aiff"),
        ("aifc", (), "aifc"),
        ("ogg", (), "vorbis"),
        ("caf", (), "caf"),
        ("w64", (), "w64"),
        ("wv", (), "wavpack"),
        ("au", (), "au"),
    ],
)
def test_real_encoder_output_is_named(encoded, ext, args, name):
    data = encoded(ext, *args)
    tag = id3_size(data)
    assert identify(data[:4096], data[tag : tag + 4096] if tag else None).name == name


def _adts_frames(count=3):
    length = 64
    header = bytes([0xFF, 0xF1, 0x50, 0x80 | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC])
    return (header + b"\x00" * (length - 7)) * count


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("beat.wav", b"x" * 100)
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, name",
    [
        (_box(b"ftyp", b"M4A \x00\x00\x00\x00M4A mp42isom") + _box(b"free", b""), "m4a"),
        (_box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41"), "mp4"),
        (_box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic"), "heic"),
        (_adts_frames(), "aac"),
        (b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x02", "opus"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "avi"),
        (b"RIFX\x10\x00\x00\x00WAVEfmt ", "rifx"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "rf64"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "wav"),
        (b"FORM\x00\x00\x00\x10AIFFCOMM", "aiff"),
        (b"MThd\x00\x00\x00\x06", "midi"),
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9", "wma"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "matroska"),
        (b"%PDF-1.7\n", "pdf"),
        (_zip(), "zip"),
        (b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- art -->\n<svg xmlns='http://www.w3.org/2000/svg'/>", "svg"),
        (b"<!DOCTYPE html><html></html>", "html"),
        (b"", "unknown"),
        (np.random.default_rng(7).bytes(4096), "unknown"),
        (b"\xff\xfb" + np.random.default_rng(8).bytes(4094), "unknown"),  # a frame sync alone is not MP3
    ],
    ids=lambda v: v if isinstance(v, str) else "bytes",
)
def test_signatures(data, name):
    """Synthesized headers of formats without an encoder here, and non-audio files."""
    assert identify(data).name == name


def test_what_follows_an_id3_tag_decides():
    tagged = b"ID3\x04\x00\x00\x00\x00\x00\x00" + _adts_frames()
    assert identify(tagged, tagged[10:]).name == "aac"
    assert identify(tagged).name == "mp3"  # nothing after the tag read: ID3 means MP3 in practice


def test_random_bytes_are_never_taken_for_audio():
    rng = np.random.default_rng(1)
    names = {identify(rng.bytes(4096)).name for _ in range(500)}
    assert names <= {"unknown", "exe", "bmp", "gzip"}  # two-byte magics can occur by chance; never audio


def test_id3_size_includes_header_and_footer():
    assert id3_size(b"ID3\x04\x00\x10\x00\x00\x01\x00") == 10 + 128 + 10
    assert id3_size(b"ID3\x04\x00\x00\x00\x00\x80\x00") == 0  # not a synchsafe size: not ID3
