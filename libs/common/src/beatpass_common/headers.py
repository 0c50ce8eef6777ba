"""The header-level look at an uploaded audio file, shared by the upload gateway (when an upload
completes) and validation (before it decodes): what the file really is (``sniff``) and what its
WAV header declares (``wav``, the one reader), judged with the same rules and sentences
(``media_rules``). Only the first bytes and the chunk headers are read, by ranged reads through a
small window; never the samples.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from . import media_rules as rules
from .config import Settings
from .events import Problem
from .sniff import RF64, WAV, Kind, id3_size, identify
from .storage import ObjectStore, RangedObject
from .wav import WavError, WavInfo, read_info

HEAD_BYTES = 4096  # what the sniffer looks at
WINDOW_BYTES = 64 * 1024  # one ranged read covers the chunk headers of a typical WAV


@dataclass
class AudioHeader:
    """``kind``: what the file is (None when its size alone refused it); ``info``: the reader's
    view of a WAV/RF64 header it could follow; ``problems``: every header-level rule it breaks."""

    kind: Kind | None = None
    info: WavInfo | None = None
    problems: list[Problem] = field(default_factory=list)


def audio_header(store: ObjectStore, bucket: str, key: str, size: int, settings: Settings) -> AudioHeader:
    """Judge the object's size, real format and WAV header (``size`` in bytes, as stored).

    Raises whatever the store raises (``ObjectNotFound``, connection errors); a file the reader
    refuses is a problem, not an exception."""
    if size == 0:
        return AudioHeader(problems=[rules.audio_empty()])
    if size > settings.audio_max_bytes:
        return AudioHeader(problems=[rules.audio_too_large(size, settings.audio_max_bytes)])
    stream = io.BufferedReader(RangedObject(store, bucket, key, size), WINDOW_BYTES)
    head = stream.peek(HEAD_BYTES)[:HEAD_BYTES]
    tag = id3_size(head)
    # MP3/AAC behind an ID3 tag: the sniffer needs the bytes after it (none when the tag claims more).
    after = store.get_bytes(bucket, key, tag, HEAD_BYTES) if 0 < tag < size else None
    kind = identify(head, after)
    if kind not in (WAV, RF64):
        return AudioHeader(kind=kind, problems=[rules.not_wav(kind)])
    try:
        info = read_info(stream, size)
    except WavError as exc:
        return AudioHeader(kind=kind, problems=rules.header_problems(exc))
    return AudioHeader(kind=kind, info=info, problems=rules.format_problems(info, settings))
