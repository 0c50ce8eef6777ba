"""What a file really is, from its first bytes (names and extensions lie).

``identify(head)`` returns a ``Kind``: a stable short name and the phrase a producer reads
("MP3 audio", "a PNG image"). ``head`` should hold the first few kilobytes; for MP3/AAC behind an
ID3 tag the caller passes the bytes after the tag too (see ``id3_size``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str  # stable identifier, e.g. "mp3", "wav"
    phrase: str  # what a producer reads, e.g. "MP3 audio"


WAV = Kind("wav", "WAV audio")
RF64 = Kind("rf64", "RF64 WAV audio")
JPEG = Kind("jpeg", "a JPEG image")
PNG = Kind("png", "a PNG image")
MP3 = Kind("mp3", "MP3 audio")
UNKNOWN = Kind("unknown", "not a recognised audio or image format")

# Fixed signatures at offset 0, checked in order.
_MAGIC: list[tuple[bytes, Kind]] = [
    (b"fLaC", Kind("flac", "FLAC audio")),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"GIF87a", Kind("gif", "a GIF image")),
    (b"GIF89a", Kind("gif", "a GIF image")),
    (b"II*\x00", Kind("tiff", "a TIFF image")),
    (b"MM\x00*", Kind("tiff", "a TIFF image")),
    (b"%PDF-", Kind("pdf", "a PDF document")),
    (b"PK\x03\x04", Kind("zip", "a ZIP archive")),
    (b"\x1f\x8b", Kind("gzip", "a gzip archive")),
    (b"Rar!\x1a\x07", Kind("rar", "a RAR archive")),
    (b"7z\xbc\xaf\x27\x1c", Kind("7z", "a 7-Zip archive")),
    (b"caff", Kind("caf", "Core Audio (CAF) audio")),
    (b"MThd", Kind("midi", "a MIDI file")),
    (b".snd", Kind("au", "Sun AU audio")),
    (b"wvpk", Kind("wavpack", "WavPack audio")),
    (b"MAC ", Kind("ape", "Monkey's Audio (APE) audio")),
    (b"#!AMR", Kind("amr", "AMR audio")),
    (b"DSD ", Kind("dsf", "DSD (DSF) audio")),
    (b"FRM8", Kind("dff", "DSD (DSDIFF) audio")),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", Kind("wma", "WMA/ASF audio")),
    (b"\x1a\x45\xdf\xa3", Kind("matroska", "Matroska/WebM media")),
    (b"riff\x2e\x91\xcf\x11", Kind("w64", "Sony Wave64 audio")),
    (b"\x7fELF", Kind("elf", "a program (ELF executable)")),
    (b"MZ", Kind("exe", "a Windows program")),
]

_RIFF_FORMS = {
    b"WAVE": WAV,
    b"AVI ": Kind("avi", "AVI video"),
    b"WEBP": Kind("webp", "a WebP image"),
}

_FTYP_BRANDS = {
    b"M4A ": Kind("m4a", "M4A/AAC audio"),
    b"M4B ": Kind("m4a", "M4A/AAC audio"),
    b"M4P ": Kind("m4a", "M4A/AAC audio"),
    b"F4A ": Kind("m4a", "M4A/AAC audio"),
    b"heic": Kind("heic", "a HEIC image"),
    b"heix": Kind("heic", "a HEIC image"),
    b"heim": Kind("heic", "a HEIC image"),
    b"heis": Kind("heic", "a HEIC image"),
    b"mif1": Kind("heic", "a HEIC image"),
    b"msf1": Kind("heic", "a HEIC image"),
    b"avif": Kind("avif", "an AVIF image"),
    b"qt  ": Kind("quicktime", "QuickTime video"),
}

_MARKUP = re.compile(  # optional BOM, XML declaration and comments, then the root element
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(<svg|<!doctype svg|<!doctype html|<html)",
    re.IGNORECASE | re.DOTALL,
)

# MPEG audio frame header tables: bitrate (kbit/s) by [version is MPEG-1][layer][index], sample rates.
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_LAYER_KINDS = {1: Kind("mp1", "MPEG Layer I audio"), 2: Kind("mp2", "MP2 audio"), 3: MP3}


def known_kinds() -> dict[str, Kind]:
    """Every kind ``identify`` can name, by name (the generic RIFF and unknown kinds aside)."""
    ogg = [Kind("opus", "Ogg Opus audio"), Kind("vorbis", "Ogg Vorbis audio"), Kind("oggflac", "Ogg FLAC audio")]
    kinds = [WAV, RF64, MP3, Kind("ogg", "Ogg audio"), Kind("aiff", "AIFF audio"), Kind("aifc", "AIFF-C audio")]
    kinds += [k for _, k in _MAGIC] + list(_RIFF_FORMS.values()) + list(_FTYP_BRANDS.values()) + ogg
    kinds += list(_LAYER_KINDS.values()) + [Kind("aac", "AAC audio"), Kind("mp4", "MP4 audio or video")]
    return {k.name: k for k in kinds}


def id3_size(head: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (0 if none): the audio starts after it."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def identify(head: bytes, after_id3: bytes | None = None) -> Kind:
    """The kind of file ``head`` starts; ``after_id3`` is what follows a leading ID3 tag."""
    if not head:
        return UNKNOWN
    if id3_size(head):
        inner = identify(after_id3) if after_id3 else UNKNOWN
        return MP3 if inner is UNKNOWN else inner  # ID3 is an MP3 convention, borrowed by AAC and FLAC
    if head[:4] in (b"RIFF", b"RIFX") and len(head) >= 12:
        if head[:4] == b"RIFX":
            return Kind("rifx", "big-endian RIFX audio")
        form = head[8:12].decode("latin-1").strip()
        return _RIFF_FORMS.get(
            head[8:12], Kind("riff", f"a RIFF '{form}' file" if form.isprintable() and form else "a RIFF file")
        )
    if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return RF64
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Kind("aiff", "AIFF audio") if head[8:12] == b"AIFF" else Kind("aifc", "AIFF-C audio")
    if head[:4] == b"OggS":
        return _ogg(head)
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], Kind("mp4", "MP4 audio or video"))
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:2] == b"BM" and len(head) >= 10 and head[6:10] == b"\x00\x00\x00\x00":
        return Kind("bmp", "a BMP image")
    if markup := _MARKUP.match(head[:4096]):
        svg = b"svg" in markup.group(1).lower()
        return Kind("svg", "an SVG image") if svg else Kind("html", "an HTML document")
    return _mpeg_stream(head)


def _ogg(head: bytes) -> Kind:
    for marker, kind in (
        (b"OpusHead", Kind("opus", "Ogg Opus audio")),
        (b"\x01vorbis", Kind("vorbis", "Ogg Vorbis audio")),
        (b"\x7fFLAC", Kind("oggflac", "Ogg FLAC audio")),
    ):
        if marker in head[:512]:
            return kind
    return Kind("ogg", "Ogg audio")


def _mpeg_stream(head: bytes) -> Kind:
    """Bare MP3/MP2 frames or AAC ADTS frames; two consecutive valid headers avoid false positives."""
    start = len(head) - len(head.lstrip(b"\x00"))  # some encoders pad the start with zeros
    first = _frame(head, start)
    if first is None:
        return UNKNOWN
    kind, length = first
    following = _frame(head, start + length)
    if following is None and start + length + 4 <= len(head):
        return UNKNOWN
    return kind


def _frame(data: bytes, at: int) -> tuple[Kind, int] | None:
    if at + 7 > len(data) or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = data[at + 1], data[at + 2]
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    if layer_bits == 0:  # ADTS (AAC) uses layer 00 with a 12-bit sync
        if b1 & 0xF0 != 0xF0 or (b2 >> 2) & 0xF > 12:
            return None
        length = ((data[at + 3] & 3) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        return (Kind("aac", "AAC audio"), length) if length >= 7 else None
    layer = 4 - layer_bits
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    else:
        length = (144 if mpeg1 or layer == 2 else 72) * bitrate // rate + padding
    return _LAYER_KINDS[layer], length
