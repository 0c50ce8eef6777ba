"""A quick look at an uploaded file at save time: is it WAV and how long is it; is the cover an image.

Only the header chunks are read (ranged reads through beatpass_common.wav), never the audio; the
validation service decodes the whole file later. The duration is what upload minutes are
reserved against.
"""

from __future__ import annotations

import io

from beatpass_common.storage import ObjectStore, RangedObject
from beatpass_common.wav import WavError, read_layout


def wav_duration_s(store: ObjectStore, bucket: str, key: str, size: int) -> float | None:
    """Seconds of audio the header describes, or None when the object is not WAV/RF64."""
    stream = io.BufferedReader(RangedObject(store, bucket, key, size), 16 * 1024)
    try:
        layout = read_layout(stream)
    except WavError:
        return None
    # A streaming header, or a size past the end: count what is there.
    available = size - stream.tell()
    data = available if layout.data_bytes is None else min(layout.data_bytes, available)
    if not layout.sample_rate or not layout.block_align:
        return 0.0
    return data / (layout.sample_rate * layout.block_align)


def sniff_image(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None
