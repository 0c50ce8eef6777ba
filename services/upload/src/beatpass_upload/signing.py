"""Signed URLs for what a browser fetches without an Authorization header: media (``<img>``) and
event streams (EventSource). A bearer token never goes into a URL, where proxies and access
logs would keep it.

A signed URL is ``{path}?producer={id}&expires={unix s}&signature={hex}`` with signature =
HMAC-SHA256(``url_signing_secret``, "GET\\n{path}\\n{producer}\\n{expires}"): it opens that one
path, for that producer, until ``expires``. Media links expire within ``media_url_ttl_s`` (the
expiry is rounded so a track view gives the same link for a while and browsers can cache the
image); event-stream tickets within ``events_url_ttl_s`` (the page asks for a new one with its
header when it reconnects).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from beatpass_common import keys
from beatpass_common.config import Settings

LINK_INVALID = "This link is not valid. Reload the page to get a new one."
LINK_EXPIRED = "This link has expired. Reload the page to get a new one."


class LinkRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _signature(settings: Settings, path: str, producer_id: str, expires: int) -> str:
    message = f"GET\n{path}\n{producer_id}\n{expires}".encode()
    return hmac.new(settings.secret("url_signing_secret").encode(), message, hashlib.sha256).hexdigest()


def sign(settings: Settings, path: str, producer_id: str, ttl_s: int, *, now: float | None = None) -> str:
    """``path`` with the query that opens it for ``producer_id`` for ``ttl_s / 2`` to ``ttl_s`` seconds."""
    now = time.time() if now is None else now
    step = max(1, ttl_s // 2)
    expires = (int(now) // step + 2) * step if ttl_s > 1 else int(now) + ttl_s
    query = urlencode(
        {"producer": producer_id, "expires": expires, "signature": _signature(settings, path, producer_id, expires)}
    )
    return f"{path}?{query}"


def verify(settings: Settings, path: str, args, *, now: float | None = None) -> str:
    """The producer a signed URL was issued to; LinkRefused (LINK_INVALID, LINK_EXPIRED) otherwise."""
    producer_id, expires, signature = args.get("producer", ""), args.get("expires", ""), args.get("signature", "")
    well_formed = (
        keys.valid_producer_id(producer_id)
        and expires.isascii()
        and expires.isdigit()
        and len(expires) <= 12
        and signature.isascii()
        and len(signature) == 64
    )
    if not well_formed:
        raise LinkRefused("LINK_INVALID", LINK_INVALID)
    if not hmac.compare_digest(_signature(settings, path, producer_id, int(expires)), signature):
        raise LinkRefused("LINK_INVALID", LINK_INVALID)
    if int(expires) < (time.time() if now is None else now):
        raise LinkRefused("LINK_EXPIRED", LINK_EXPIRED)
    return producer_id
