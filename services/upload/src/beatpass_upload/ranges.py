"""HTTP byte ranges (RFC 9110 §14) for serving a producer's audio to a player.

One range is served as asked. Anything else is answered whole (a server may ignore ``Range``):
several ranges (players ask for one), a unit other than bytes, syntax this parser does not
follow, numbers longer than 19 digits, and an ``If-Range`` that does not name the current ETag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"([0-9]{1,19})?-([0-9]{1,19})?")


class Unsatisfiable(Exception):
    """The one range asked for lies outside the ``length`` bytes there are (answer 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int  # first byte, inclusive
    end: int  # last byte, inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end}/{total}"


def requested(
    header: str | None, length: int, *, if_range: str | None = None, etag: str | None = None
) -> ByteRange | None:
    """The byte range to serve of ``length`` bytes, or None for the whole representation.
    Raises Unsatisfiable for a single range that starts past the end (or asks for 0 bytes)."""
    if header is None or (if_range is not None and if_range != etag):
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in specs.split(",")]
    if len(parts) != 1:
        return None
    match = _SPEC.fullmatch(parts[0])
    if match is None or match.group(1) is None and match.group(2) is None:
        return None
    first, last = (None if g is None else int(g) for g in match.groups())
    if first is None:  # a suffix: the last ``last`` bytes
        assert last is not None  # _SPEC has at least one of the two
        if last == 0 or length == 0:
            raise Unsatisfiable()
        return ByteRange(max(0, length - last), length - 1)
    if last is not None and last < first:
        return None  # invalid: ignored, not refused
    if first >= length:
        raise Unsatisfiable()
    return ByteRange(first, length - 1 if last is None else min(last, length - 1))
