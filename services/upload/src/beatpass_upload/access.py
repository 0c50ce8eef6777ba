"""Who is calling: the producer from the bearer token, and whether they may upload."""

from __future__ import annotations

from flask import g, request

from beatpass_common.auth import AuthError, Producer, bearer_token, verify_token
from beatpass_common.config import Settings


class AccessDenied(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


PRODUCER_ACCESS_MESSAGE = "Upload access is only available to approved producers."

# Browsers cannot put an Authorization header on EventSource or <img>, so these read-only routes
# (and only these) also accept the token as ``?access_token=`` (RFC 6750 section 2.3).
QUERY_TOKEN_ENDPOINTS = frozenset({"api.track_events", "api.collection_events", "api.media", "api.collection_media"})


def _authorization() -> str | None:
    header = request.headers.get("Authorization")
    if header is None and request.endpoint in QUERY_TOKEN_ENDPOINTS and request.args.get("access_token"):
        return f"Bearer {request.args['access_token']}"
    return header


def current_producer(settings: Settings, *, approved: bool) -> Producer:
    try:
        producer = verify_token(bearer_token(_authorization()), settings)
    except AuthError as exc:
        raise AccessDenied(401, exc.code, exc.message) from None
    if approved and not producer.approved:
        raise AccessDenied(403, "PRODUCER_ACCESS_REQUIRED", PRODUCER_ACCESS_MESSAGE)
    g.producer = producer
    return producer


def minutes_limit(producer: Producer, settings: Settings) -> int:
    return producer.upload_minutes_limit if producer.upload_minutes_limit is not None else settings.upload_minutes_limit
