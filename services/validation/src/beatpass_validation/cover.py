"""The cover-art check and its derivatives (1000 px JPEG and 300 px thumbnail).

The image's structure is read by hand first (dimensions, where the picture data ends) so huge
dimension claims are refused before Pillow allocates anything, and data hidden after the picture
(polyglots) is found. That walk also bounds what makes decoding cost more than the file's size
and pixel count suggest: JPEG scans (a progressive decoder passes over the whole image once per
scan, so thousands of tiny scans take minutes) and the number of PNG chunks or JPEG marker
segments (each is parsed one by one). Pillow then decodes with its decompression-bomb limit set
to our own pixel limit, verifies the whole file, and the derivatives are re-encoded from the
pixels only.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from beatpass_common import keys
from beatpass_common.config import Settings
from beatpass_common.events import CoverFacts, ObjectRef, Problem
from beatpass_common.sniff import JPEG, PNG, Kind, identify
from beatpass_common.storage import ObjectNotFound, ObjectStore

from . import rules

DERIVATIVES = {"large": 1000, "thumb": 300}
JPEG_QUALITY = 88
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD9)}
_SOS, _EOI = 0xDA, 0xD9
_FILL = re.compile(rb"\xff+")
# In entropy-coded data FF 00 is a stuffed FF byte and FF D0-D7 a restart marker; anything else
# after FF (fill bytes aside) is the next marker.
_AFTER_SCAN = re.compile(rb"\xff+[^\x00\xff\xd0-\xd7]")
_MARKUP = (b"<script", b"<html", b"<?php", b"<svg", b"<iframe")


class _Unreadable(Exception):
    pass


class _TooComplex(Exception):
    """The structure holds more ``what`` ("scans", "chunks", "marker segments") than ``limit``."""

    def __init__(self, what: str, limit: int):
        super().__init__(f"more than {limit} {what}")
        self.what, self.limit = what, limit


@dataclass
class CoverResult:
    facts: CoverFacts | None = None
    problems: list[Problem] = field(default_factory=list)
    derivatives: dict[str, bytes] = field(default_factory=dict)  # name -> JPEG bytes


def derivative_keys(owner_id: str, kind: str = "tracks", revision: int = 0) -> dict[str, str]:
    """Deterministic media keys, so a redelivery overwrites the same objects. A collection's
    changed cover (``revision`` n > 0, its edit number) gets keys of its own: a late verdict on an
    older cover never overwrites the images of a newer one."""
    suffix = f"-r{revision}" if revision else ""
    return {name: keys.media_key(kind, owner_id, f"cover-{px}{suffix}.jpg") for name, px in DERIVATIVES.items()}


def check_cover(store: ObjectStore, ref: ObjectRef, settings: Settings) -> CoverResult:
    try:
        size = store.stat(ref.bucket, ref.key).size
    except ObjectNotFound:
        return CoverResult(problems=[rules.cover_missing()])
    if size == 0:
        return CoverResult(problems=[rules.cover_empty()])
    if size > settings.cover_max_bytes:
        return CoverResult(problems=[rules.cover_too_large(size, settings.cover_max_bytes)])
    data = store.get_bytes(ref.bucket, ref.key)
    return judge_cover(data, settings)


def judge_cover(data: bytes, settings: Settings) -> CoverResult:
    kind = identify(data[:4096])
    if kind not in (JPEG, PNG):
        return CoverResult(problems=[rules.cover_format(kind)])
    try:
        (w, h), pixels_at, end = (_png_layout if kind is PNG else _jpeg_layout)(data, settings)
    except _Unreadable:
        return CoverResult(problems=[rules.cover_corrupt(kind)])
    except _TooComplex as exc:
        return CoverResult(problems=[rules.cover_too_complex(kind, exc.what, exc.limit)])
    if hidden := _hidden_content(data, pixels_at, end):
        return CoverResult(problems=[rules.cover_polyglot(kind, hidden)])
    if problems := rules.cover_size_problems(w, h, settings):
        return CoverResult(problems=problems)
    try:
        image, mode = decode_guarded(data, (w, h), max_pixels=settings.cover_max_px**2)
    except Image.DecompressionBombError:
        return CoverResult(problems=[rules.cover_dimensions(w, h, settings)])
    except _Unreadable:
        return CoverResult(problems=[rules.cover_corrupt(kind)])
    if (image.width > image.height) != (w > h):  # EXIF orientation turned it a quarter
        w, h = h, w
    facts = CoverFacts(format=kind.name.upper(), width=w, height=h, mode=mode)
    return CoverResult(facts=facts, derivatives=_derivatives(image))


def decode_guarded(data: bytes, size: tuple[int, int], *, max_pixels: int) -> tuple[Image.Image, str]:
    """Fully decode with Pillow's bomb limit at ``max_pixels``: (RGB image with EXIF orientation
    applied, the file's own colour mode)."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # set before every decode: the limit is Pillow-global
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as probe:
                probe.verify()  # PNG: every chunk CRC; JPEG: structure
            image: Image.Image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
            if image.size != size:
                raise _Unreadable(f"Pillow reads {image.size}, the header says {size}")
            if image.format in ("JPEG", "MPO"):
                image.draft(image.mode, (max(DERIVATIVES.values()),) * 2)  # DCT-domain downscale: less memory
            image.load()  # decodes everything: truncation anywhere raises here
        except Image.DecompressionBombWarning as exc:
            raise Image.DecompressionBombError(str(exc)) from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise _Unreadable(str(exc)) from exc
    mode = image.mode
    image = _shrink(image, max(DERIVATIVES.values()))
    return _to_rgb(ImageOps.exif_transpose(image)), mode


def _shrink(image: Image.Image, side: int) -> Image.Image:
    """Reduce by a whole factor while both sides stay >= ``side``: the conversions and the final
    resampling then work on a few megapixels, not up to 36 (a 6000 px RGBA PNG is 144 MB a copy)."""
    factor = min(image.size) // side
    if factor < 2:
        return image
    if image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        image = (
            _grey8(image)
            if image.mode.startswith("I")
            else image.convert("RGBA" if image.mode in ("P", "PA") else "L" if image.mode == "1" else "RGB")
        )
    return image.reduce(factor)  # keeps info, so the EXIF orientation still applies


def _grey8(image: Image.Image) -> Image.Image:
    """16-bit grey (PNG has no deeper grey) scaled to 8 bits; convert("L") would clip instead."""
    grey = Image.fromarray((np.asarray(image).astype(np.float64) * (255 / 65535)).clip(0, 255).astype(np.uint8), "L")
    grey.info = dict(image.info)
    return grey


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I"):
        image = _grey8(image)
    if image.mode == "P":
        image = image.convert("RGBA")  # keeps palette transparency
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")  # CMYK, L, 1, YCbCr and RGBA-on-white alike


def _derivatives(image: Image.Image) -> dict[str, bytes]:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    out = {}
    for name, px in DERIVATIVES.items():
        buf = io.BytesIO()
        square.resize((px, px), Image.Resampling.LANCZOS).save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
        out[name] = buf.getvalue()
    return out


def _png_layout(data: bytes, settings: Settings) -> tuple[tuple[int, int], int, int]:
    """(width, height) from IHDR, the offset of the first IDAT and the offset just past IEND.
    Raises _Unreadable, or _TooComplex past ``settings.cover_max_chunks`` chunks."""
    if data[12:16] != b"IHDR" or len(data) < 33:
        raise _Unreadable("no IHDR")
    w, h = struct.unpack(">II", data[16:24])
    pos, pixels_at, chunks = 8, None, 0
    while pos + 12 <= len(data):
        chunks += 1
        if chunks > settings.cover_max_chunks:
            raise _TooComplex("chunks", settings.cover_max_chunks)
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if ctype == b"IDAT" and pixels_at is None:
            pixels_at = pos
        pos += 12 + length
        if ctype == b"IEND":
            if pos > len(data) or pixels_at is None:
                break
            return (w, h), pixels_at, pos
    raise _Unreadable("no pixel data or no IEND: the file is cut short")


def _jpeg_layout(data: bytes, settings: Settings) -> tuple[tuple[int, int], int, int]:
    """(width, height) from the frame header, the offset of the first scan and the offset just past
    EOI, walking every marker segment and scan. Raises _Unreadable, or _TooComplex past
    ``settings.cover_max_scans`` scans or ``settings.cover_max_chunks`` marker segments."""
    pos, dims, first_scan, scans, segments = 2, None, None, 0, 0
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            raise _Unreadable(f"no marker at {pos}")
        fill = _FILL.match(data, pos)  # fill bytes: any number of FF before a marker
        assert fill is not None  # data[pos] is FF
        pos = fill.end() - 1
        marker = data[pos + 1] if pos + 1 < len(data) else None
        if marker == _EOI:
            if dims is None or first_scan is None or 0 in dims:
                break
            return dims, first_scan, pos + 2
        if marker in _STANDALONE:
            pos += 2
            continue
        segments += 1
        if segments > settings.cover_max_chunks:
            raise _TooComplex("marker segments", settings.cover_max_chunks)
        if pos + 4 > len(data):
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in _SOF and pos + 9 <= len(data):
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            dims = (w, h)
        pos += 2 + length
        if marker == _SOS:
            scans += 1
            if scans > settings.cover_max_scans:
                raise _TooComplex("scans", settings.cover_max_scans)
            if dims is None:
                break
            first_scan = first_scan if first_scan is not None else pos - 2 - length
            after = _AFTER_SCAN.search(data, pos)  # the entropy-coded data runs up to the next marker
            if after is None:
                break
            pos = after.start()
    raise _Unreadable("no frame header or no end of image: the file is cut short")


def _hidden_content(data: bytes, pixels_at: int, end: int) -> str | None:
    """What else the file holds besides the picture, in a producer's words; None when nothing.

    Markup is looked for in the metadata before the pixel data only: compressed pixels are
    random-looking, and a short marker like "<svg" would turn up in large files by chance.
    """
    trailing = data[end:]
    if trailing.strip(b"\x00") and not trailing.startswith(b"\xff\xd8\xff"):  # MPO: a second JPEG is fine
        kind: Kind = identify(trailing[:4096])
        return (
            f"{kind.phrase} after the picture"
            if kind.name != "unknown"
            else f"{len(trailing):,} bytes of other data after the picture"
        )
    if b"%PDF-" in data[:1024]:  # PDF readers look for their header anywhere in the first kilobyte
        return "a PDF document"
    metadata = data[:pixels_at].lower()
    if any(marker in metadata for marker in _MARKUP):
        return "web page code (HTML or script)"
    return None
