"""Object keys and the identifiers that go into them; the one place keys are built.

A producer id (a token's ``sub``) is 1–64 characters of ``A-Z a-z 0-9 . _ -``, starting with a
letter or digit, with no ``..``: it is a single path segment, so no id can leave its folder. The
gateway refuses other ids (401 ``PRODUCER_ID_INVALID``) whatever the identity provider signs, and
``object_key`` refuses every segment outside the same alphabet (``InvalidKey``), so a key built
here stays under its prefix on S3 and on the local store alike.
"""

from __future__ import annotations

import re

PRODUCER_ID_MAX = 64
_PRODUCER_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{PRODUCER_ID_MAX - 1}}}")
# Ids, names and suffixes of the segments we build (uuids, "waveform.png", "<uuid>.tail-<hex>").
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidKey(ValueError):
    """A key segment outside the alphabet (a slash, ``..``, NUL, too long...): never stored."""


def valid_producer_id(value: object) -> bool:
    return isinstance(value, str) and _PRODUCER_ID.fullmatch(value) is not None and ".." not in value


def _segment(value: str) -> str:
    if not isinstance(value, str) or _SEGMENT.fullmatch(value) is None or ".." in value:
        raise InvalidKey(f"not a key segment: {value!r}")
    return value


def object_key(*segments: str) -> str:
    """``a/b/c`` from segments that each match the alphabet above; raises InvalidKey otherwise."""
    return "/".join(_segment(s) for s in segments)


def upload_key(producer_id: str, upload_id: str) -> str:
    """An original's key in the uploads bucket: ``producers/{producer_id}/uploads/{upload_id}``."""
    if not valid_producer_id(producer_id):
        raise InvalidKey(f"not a producer id: {producer_id!r}")
    return object_key("producers", producer_id, "uploads", upload_id)


def tail_key(upload_key_: str, token: str) -> str:
    """The transient tail object of an unfinished upload, next to it: ``{upload key}.tail-{token}``."""
    if not (token.isascii() and token.isalnum()):
        raise InvalidKey(f"not a tail token: {token!r}")
    *folder, name = upload_key_.split("/")
    return object_key(*folder, f"{name}.tail-{token}")


def media_key(kind: str, owner_id: str, name: str) -> str:
    """A derived object in the media bucket: ``{tracks|collections}/{id}/{name}``."""
    if kind not in ("tracks", "collections"):
        raise InvalidKey(f"not a media kind: {kind!r}")
    return object_key(kind, owner_id, name)
