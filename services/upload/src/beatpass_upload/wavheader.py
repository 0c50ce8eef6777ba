"""A quick look at an uploaded file at save time: is it WAV and how long is it; is the cover an image.

Only the header chunks are read (ranged reads through the common reader, beatpass_common.wav),
never the audio; the validation service decodes the whole file later. The duration is what
upload minutes are reserved against.
"""

from __future__ import annotations

import io

from beatpass_common.sniff import JPEG, PNG, RF64, WAV, identify
from beatpass_common.storage import ObjectStore, RangedObject
from beatpass_common.wav import WavError, read_info


def wav_duration_s(store: ObjectStore, bucket: str, key: str, size: int) -> float | None:
    """Seconds of audio present as the header describes it, or None when the object is not
    WAV/RF64. A WAV whose header the reader refuses, or whose samples it cannot decode (a frame
    size that disagrees with the format gives no length every reader agrees on), counts 0 s:
    validation names the fault."""
    stream = io.BufferedReader(RangedObject(store, bucket, key, size), 16 * 1024)
    if identify(stream.peek(16)[:16]) not in (WAV, RF64):
        return None
    try:
        info = read_info(stream, size)
    except WavError:
        return 0.0
    return 0.0 if info.undecodable() else info.duration_s


def sniff_image(head: bytes) -> str | None:
    """"jpeg" or "png" when ``head`` (the first bytes) starts such an image, else None."""
    kind = identify(head)
    return kind.name if kind in (JPEG, PNG) else None
