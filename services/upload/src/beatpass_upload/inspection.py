"""What an upload is, judged once when it completes, so the producer reads a problem on the file
card at once instead of after Save, with the very code and sentence validation would give.

Audio: the header-level look validation takes before it decodes (``beatpass_common.headers``:
size, real format, the one WAV reader's chunk walk, ``media_rules.format_problems``). Cover: size,
real format (``sniff``) and the dimensions from the image header, read by Pillow's JPEG/PNG plugin
opened lazily (no pixel is decoded) on the file's first ``cover_header_max_bytes``, judged with
``media_rules``. Pillow walks a JPEG's header byte by byte (a crafted 20 MiB file takes a minute),
so it never sees more than that prefix; a header that does not end within it leaves the size to
validation. What needs the
whole file (silence, damaged samples, hidden content, decoding cost) stays validation's, after
Save: validation still decides.

The result (stored on the upload row, served by ``GET /api/v1/uploads/{id}``)::

    {"kind": "audio" | "cover",
     "format": "wav" | "rf64" | "mp3" | "flac" | "jpeg" | "png" | "unknown" | ... | None (not read),
     "facts": {"sample_rate", "bit_depth", "channels", "duration_s"} | {"width", "height"} | None,
     "problems": [{"field": "audio" | "cover", "code", "message"}]}
"""

from __future__ import annotations

import io
import struct

from PIL import JpegImagePlugin, PngImagePlugin

from beatpass_common import media_rules as rules
from beatpass_common.config import Settings
from beatpass_common.headers import HEAD_BYTES, audio_header
from beatpass_common.sniff import JPEG, PNG, identify
from beatpass_common.storage import ObjectStore

from .models import Upload

KINDS = ("audio", "cover")
# Files a producer may mean as cover art when the upload does not say (tus metadata ``kind``).
IMAGE_FORMATS = {"jpeg", "png", "gif", "tiff", "bmp", "webp", "heic", "avif", "svg"}
_PLUGINS = {JPEG: JpegImagePlugin.JpegImageFile, PNG: PngImagePlugin.PngImageFile}


def declared_kind(upload: Upload) -> str | None:
    kind = (upload.meta or {}).get("kind")
    return kind if kind in KINDS else None


def inspect(store: ObjectStore, upload: Upload, settings: Settings, kind: str | None = None) -> dict:
    """Judge the complete ``upload`` as ``kind`` (default: the kind it declares, else what its
    first bytes look like). Raises what the store raises; every fault of the file is a problem."""
    kind = kind or declared_kind(upload) or _guess(store, upload)
    if kind == "audio":
        head = audio_header(store, upload.bucket, upload.key, upload.length, settings)
        info = head.info
        facts = (
            None
            if info is None
            else {
                "sample_rate": info.sample_rate,
                "bit_depth": info.bits,
                "channels": info.channels,
                "duration_s": round(info.duration_s, 6),
            }
        )
        return _result(kind, head.kind.name if head.kind else None, facts, head.problems)
    return _cover(store, upload, settings)


def _guess(store: ObjectStore, upload: Upload) -> str:
    if upload.length == 0:
        return "audio"
    name = identify(store.get_bytes(upload.bucket, upload.key, 0, HEAD_BYTES)).name
    return "cover" if name in IMAGE_FORMATS else "audio"


def _cover(store: ObjectStore, upload: Upload, settings: Settings) -> dict:
    size = upload.length
    if size == 0:
        return _result("cover", None, None, [rules.cover_empty()])
    if size > settings.cover_max_bytes:
        return _result("cover", None, None, [rules.cover_too_large(size, settings.cover_max_bytes)])
    whole = size <= settings.cover_header_max_bytes
    head = store.get_bytes(upload.bucket, upload.key, 0, min(size, settings.cover_header_max_bytes))
    kind = identify(head[:HEAD_BYTES])
    if kind not in _PLUGINS:
        return _result("cover", kind.name, None, [rules.cover_format(kind)])
    try:
        # The plugin reads the header up to the dimensions (and the pixel data's start); it
        # decodes nothing, and Image.open's global decompression-bomb setting is not involved.
        with _PLUGINS[kind](io.BytesIO(head)) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        # The whole file was there: it is damaged. Otherwise its header is longer than we look.
        return _result("cover", kind.name, None, [rules.cover_corrupt(kind)] if whole else [])
    return _result(
        "cover", kind.name, {"width": width, "height": height}, rules.cover_size_problems(width, height, settings)
    )


def _result(kind: str, format_: str | None, facts: dict | None, problems) -> dict:
    return {"kind": kind, "format": format_, "facts": facts, "problems": [p.model_dump(mode="json") for p in problems]}
