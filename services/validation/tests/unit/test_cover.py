"""The cover corpus: formats, polyglots, bombs, huge claims, broken files, conversions."""

import io
import struct
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from beatpass_common.events import ObjectRef
from beatpass_validation.cover import check_cover, decode_guarded, derivative_keys, judge_cover


def codes(result):
    return [p.code for p in result.problems]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def forged_png(w: int, h: int, rows: bytes = b"", bit_depth: int = 8, colour: int = 2) -> bytes:
    """A PNG whose header claims w x h; ``rows`` is the raw (filtered) pixel data to compress."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows, 9))
        + png_chunk(b"IEND", b"")
    )


def bomb_png(side: int) -> bytes:
    """A real, complete 1-bit PNG of side x side zeros: a few KB that decode to side² pixels."""
    row = b"\x00" * (1 + side // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def jpeg_with_segment(jpeg: bytes, marker: int, body: bytes) -> bytes:
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def forged_jpeg_size(jpeg: bytes, w: int, h: int) -> bytes:
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", h, w) + jpeg[sof + 9 :]


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.txt", "hidden")
    return buf.getvalue()


def derivative(result, name="large") -> Image.Image:
    return Image.open(io.BytesIO(result.derivatives[name]))


# --- good images -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, mode, size",
    [
        ("PNG", "RGB", (1200, 1200)),
        ("JPEG", "RGB", (1000, 1000)),
        ("PNG", "RGBA", (1000, 1000)),
        ("PNG", "L", (1000, 1000)),
        ("JPEG", "L", (1000, 1000)),
        ("JPEG", "CMYK", (1000, 1000)),
        ("PNG", "P", (1000, 1000)),
        ("PNG", "1", (1000, 1000)),
        ("PNG", "RGB", (1200, 1190)),
    ],
)
def test_good_covers_give_facts_and_derivatives(settings, gen, fmt, mode, size):
    result = judge_cover(gen.image(size, mode, fmt), settings)
    assert result.problems == []
    assert (result.facts.format, result.facts.width, result.facts.height, result.facts.mode) == (fmt, *size, mode)
    for name, px in (("large", 1000), ("thumb", 300)):
        img = derivative(result, name)
        assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (px, px))
    large = derivative(result)
    if mode not in ("L", "1"):
        left, right = large.getpixel((100, 500)), large.getpixel((900, 500))
        assert left[2] > 150 and right[0] > 150  # blue left, red right: colours survive CMYK/palette


def test_exif_orientation_is_applied(settings, gen):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to display
    result = judge_cover(gen.image((1000, 1000), "RGB", "JPEG", exif=exif.tobytes()), settings)
    large = derivative(result)
    assert large.getpixel((500, 100))[2] > 150  # the blue left half is now on top
    assert large.getpixel((500, 900))[0] > 150


def test_transparency_is_composited_on_white(settings):
    img = Image.new("RGBA", (1000, 1000), (0, 0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert derivative(judge_cover(buf.getvalue(), settings)).getpixel((500, 500)) == (255, 255, 255)


def test_16_bit_grey_keeps_its_tones(settings):
    img = Image.fromarray(np.full((1000, 1000), 32768, np.uint16))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    result = judge_cover(buf.getvalue(), settings)
    assert result.facts.mode.startswith("I")
    assert 120 <= derivative(result).getpixel((500, 500))[0] <= 135  # mid grey, not clipped to white


def test_derivatives_are_deterministic(settings, gen):
    data = gen.image((1500, 1500), "RGB", "JPEG")
    assert judge_cover(data, settings).derivatives == judge_cover(data, settings).derivatives


def test_derivative_keys():
    assert derivative_keys("t1") == {"large": "tracks/t1/cover-1000.jpg", "thumb": "tracks/t1/cover-300.jpg"}


# --- bad images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, phrase",
    [
        ("GIF", "a GIF image"),
        ("WEBP", "a WebP image"),
        ("BMP", "a BMP image"),
        ("TIFF", "a TIFF image"),
    ],
)
def test_other_image_formats_are_named(settings, gen, fmt, phrase):
    result = judge_cover(gen.image((1000, 1000), "RGB", fmt), settings)
    assert codes(result) == ["COVER_NOT_JPEG_OR_PNG"]
    assert result.problems[0].message == (
        f"This file is {phrase}, not JPEG or PNG. BeatPass accepts JPEG or PNG cover art only."
    )


def test_corpus_of_bad_covers(settings, gen):
    jpeg = gen.image((1000, 1000), "RGB", "JPEG")
    png = gen.image((1000, 1000), "RGB", "PNG")
    rng = np.random.default_rng(11)
    broken_crc = bytearray(png)
    broken_crc[60] ^= 0xFF
    cases = {
        "SVG": (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="1000" height="1000"/>',
            ["COVER_NOT_JPEG_OR_PNG"],
        ),
        "HEIC": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100, ["COVER_NOT_JPEG_OR_PNG"]),
        "AVIF": (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif" + b"\x00" * 100, ["COVER_NOT_JPEG_OR_PNG"]),
        "PDF": (b"%PDF-1.4\n" + rng.bytes(500), ["COVER_NOT_JPEG_OR_PNG"]),
        "random bytes": (rng.bytes(20_000), ["COVER_NOT_JPEG_OR_PNG"]),
        "JPEG + ZIP": (jpeg + zip_bytes(), ["COVER_POLYGLOT"]),
        "PNG + junk": (png + rng.bytes(300), ["COVER_POLYGLOT"]),
        "JPEG with a script comment": (jpeg_with_segment(jpeg, 0xFE, b"<script>alert(1)</script>"), ["COVER_POLYGLOT"]),
        "JPEG hiding a PDF header": (jpeg_with_segment(jpeg, 0xFE, b"%PDF-1.4 obj"), ["COVER_POLYGLOT"]),
        "PNG with HTML in a text chunk": (
            png[:33] + png_chunk(b"tEXt", b"Comment\x00<html><body>") + png[33:],
            ["COVER_POLYGLOT"],
        ),
        "truncated PNG": (png[: len(png) // 2], ["COVER_CORRUPT"]),
        "truncated JPEG": (jpeg[: len(jpeg) // 2], ["COVER_CORRUPT"]),
        "PNG with a broken CRC": (bytes(broken_crc), ["COVER_CORRUPT"]),
        "PNG header only": (png[:33], ["COVER_CORRUPT"]),
        "too small": (gen.image((800, 800)), ["COVER_DIMENSIONS"]),
        "not square": (gen.image((1200, 1000)), ["COVER_NOT_SQUARE"]),
        "small and not square": (gen.image((900, 500)), ["COVER_DIMENSIONS", "COVER_NOT_SQUARE"]),
        "PNG claiming 7000 px": (forged_png(7000, 7000), ["COVER_DIMENSIONS"]),
        "PNG claiming 100000 px": (forged_png(100_000, 100_000), ["COVER_DIMENSIONS"]),
        "JPEG claiming 65000 px": (forged_jpeg_size(jpeg, 65000, 65000), ["COVER_DIMENSIONS"]),
        "PNG claiming 0 px": (forged_png(0, 0), ["COVER_DIMENSIONS"]),
        "decompression bomb": (bomb_png(20_000), ["COVER_DIMENSIONS"]),
        "PNG whose pixels do not match the header": (forged_png(1000, 1000, b"\x00" * 10), ["COVER_CORRUPT"]),
    }
    found = {name: codes(judge_cover(data, settings)) for name, (data, _) in cases.items()}
    assert found == {name: expected for name, (_, expected) in cases.items()}


def test_polyglot_message_names_what_is_hidden(settings, gen):
    result = judge_cover(gen.image((1000, 1000), "RGB", "JPEG") + zip_bytes(), settings)
    assert result.problems[0].message == (
        "This image is a JPEG image that also contains a ZIP archive after the picture. "
        "BeatPass accepts plain JPEG or PNG images only; export the artwork again."
    )


def test_trailing_zero_padding_is_not_a_polyglot(settings, gen):
    assert judge_cover(gen.image((1000, 1000), "RGB", "JPEG") + b"\x00" * 64, settings).problems == []


def test_pillow_bomb_guard_is_set_before_decoding(gen):
    png = gen.image((1200, 1200))
    with pytest.raises(Image.DecompressionBombError):
        decode_guarded(png, (1200, 1200), max_pixels=1_000_000)  # 1.44 M pixels: over the limit
    with pytest.raises(Image.DecompressionBombError):
        decode_guarded(png, (1200, 1200), max_pixels=500_000)  # over twice the limit: Pillow refuses to open
    assert Image.MAX_IMAGE_PIXELS == 500_000


def test_size_limits_and_missing_objects(store, settings, gen):
    ref = gen.put(store, settings, "c.png", gen.image((1000, 1000)))
    small = settings.model_copy(update={"cover_max_bytes": 1000})
    assert codes(check_cover(store, ref, small)) == ["COVER_TOO_LARGE"]
    empty = gen.put(store, settings, "e.png", b"")
    assert codes(check_cover(store, empty, settings)) == ["COVER_EMPTY"]
    missing = ObjectRef(bucket=settings.uploads_bucket, key="nope", size=1)
    assert codes(check_cover(store, missing, settings)) == ["COVER_MISSING"]
    assert check_cover(store, ref, settings).problems == []


def test_progressive_jpeg_and_exif_thumbnail_are_plain_jpegs(settings, gen):
    thumb = gen.image((160, 160), "RGB", "JPEG")  # an embedded thumbnail has its own SOF and EOI
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    app1 = b"Exif\x00\x00" + exif.tobytes()[6:] + thumb
    for data in (
        gen.image((1000, 1000), "RGB", "JPEG", progressive=True),
        jpeg_with_segment(gen.image((1000, 1000), "RGB", "JPEG"), 0xE1, app1),
    ):
        result = judge_cover(data, settings)
        assert result.problems == [] and (result.facts.width, result.facts.height) == (1000, 1000)


@pytest.mark.parametrize("mode", ["I;16", "P", "RGBA", "1"])
def test_large_covers_are_reduced_before_conversion_keeping_tones_and_orientation(settings, gen, mode):
    exif = Image.Exif()
    exif[0x0112] = 6
    if mode == "I;16":
        img = Image.fromarray(np.full((2400, 2400), 32768, np.uint16))
    else:
        img = Image.new("RGB", (2400, 2400), (200, 30, 60))
        img.paste((20, 40, 220), (0, 0, 1200, 2400))
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    result = judge_cover(buf.getvalue(), settings)
    assert (result.facts.width, result.facts.mode) == (2400, mode)
    large = derivative(result)
    if mode == "I;16":
        assert 120 <= large.getpixel((500, 500))[0] <= 135
    elif mode != "1":
        assert large.getpixel((500, 100))[2] > 150 and large.getpixel((500, 900))[0] > 150  # rotated: blue on top


# --- structures whose decoding cost file size and pixel count do not bound ----------------------


def jpeg_segments(jpeg: bytes) -> list[bytes]:
    """The marker segments after SOI, a scan (SOS) segment running up to the next non-RST marker."""
    pos, out = 2, []
    while pos < len(jpeg):
        marker = jpeg[pos + 1]
        if marker == 0xD9:
            return out + [jpeg[pos : pos + 2]]
        end = pos + 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        while marker == 0xDA:
            end = jpeg.index(b"\xff", end)
            if jpeg[end + 1] != 0 and not 0xD0 <= jpeg[end + 1] <= 0xD7:
                break
            end += 2
        out.append(jpeg[pos:end])
        pos = end
    raise AssertionError("no EOI")


def scan_bomb(jpeg: bytes, copies: int) -> bytes:
    """The stranger's cover: a progressive JPEG whose smallest scan after the first is repeated."""
    segments = jpeg_segments(jpeg)
    tiny = min((s for s in segments if s[1] == 0xDA), key=len)
    assert tiny != next(s for s in segments if s[1] == 0xDA)
    return jpeg[:2] + b"".join(segments[:-1]) + tiny * copies + b"\xff\xd9"


def test_jpeg_scan_bomb_is_refused_quickly_before_decoding(settings):
    pixels = np.zeros((1000, 1000, 3), np.uint8)
    pixels[:] = (120, 80, 160)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", progressive=True, quality=90)
    bomb = scan_bomb(buf.getvalue(), 150_000)
    assert len(bomb) > 1_500_000
    started = time.monotonic()
    result = judge_cover(bomb, settings)
    assert time.monotonic() - started < 2.0  # Pillow needs minutes for these 150,000 scans
    assert codes(result) == ["COVER_TOO_COMPLEX"]
    assert result.problems[0].message == (
        "This image is a JPEG image with more than 64 scans; BeatPass accepts JPEG images with at most 64. "
        "Save it again as a standard JPEG or PNG."
    )


def test_scans_up_to_the_limit_decode(settings, gen):
    progressive = gen.image((1000, 1000), "RGB", "JPEG", progressive=True)
    scans = sum(s[1] == 0xDA for s in jpeg_segments(progressive))
    repeats = settings.cover_max_scans - scans  # a repeated refinement scan changes nothing visible
    assert judge_cover(scan_bomb(progressive, repeats), settings).problems == []
    assert codes(judge_cover(scan_bomb(progressive, repeats + 1), settings)) == ["COVER_TOO_COMPLEX"]


def test_too_many_png_chunks_or_jpeg_segments_are_refused(settings, gen):
    png, jpeg = gen.image((1000, 1000), "RGB", "PNG"), gen.image((1000, 1000), "RGB", "JPEG")
    empty_idat = png_chunk(b"IDAT", b"")  # legal, and each one parsed by itself
    first_idat = png.index(b"IDAT") - 4
    many_idat = png[:first_idat] + empty_idat * 20_000 + png[first_idat:]
    many_text = png[:33] + png_chunk(b"tEXt", b"a\x00b") * 20_000 + png[33:]
    many_comments = jpeg[:2] + b"\xff\xfe\x00\x03x" * 20_000 + jpeg[2:]
    for data, kind, what in (
        (many_idat, "a PNG image", "chunks"),
        (many_text, "a PNG image", "chunks"),
        (many_comments, "a JPEG image", "marker segments"),
    ):
        result = judge_cover(data, settings)
        assert codes(result) == ["COVER_TOO_COMPLEX"]
        name = kind.split()[1]
        assert result.problems[0].message == (
            f"This image is {kind} with more than 20,000 {what}; BeatPass accepts {name} images with at most "
            "20,000. Save it again as a standard JPEG or PNG."
        )
    fewer = png[:first_idat] + empty_idat * 1000 + png[first_idat:]
    assert judge_cover(fewer, settings).problems == []


def test_jpeg_walk_skips_segments_by_their_length(settings, gen):
    """An end-of-image pair inside a segment between scans is data, not the end of the picture."""
    jpeg = gen.image((1000, 1000), "RGB", "JPEG", progressive=True)
    segments = jpeg_segments(jpeg)
    second_scan = [i for i, s in enumerate(segments) if s[1] == 0xDA][1]
    comment = b"\xff\xfe" + struct.pack(">H", 6) + b"\xff\xd9xx"
    data = jpeg[:2] + b"".join(segments[:second_scan]) + comment + b"".join(segments[second_scan:])
    assert judge_cover(data, settings).problems == []
