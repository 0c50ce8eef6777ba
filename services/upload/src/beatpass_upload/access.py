"""Who is calling: the producer from the bearer token, and whether they may upload."""

from __future__ import annotations

from flask import g, request

from beatpass_common.auth import AuthError, Producer, bearer_token, verify_token
from beatpass_common.config import Settings

from . import signing


class AccessDenied(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


PRODUCER_ACCESS_MESSAGE = "Upload access is only available to approved producers."


def current_producer(settings: Settings, *, approved: bool) -> Producer:
    """The producer of the request's ``Authorization: Bearer`` token (never a token in the URL)."""
    try:
        producer = verify_token(bearer_token(request.headers.get("Authorization")), settings)
    except AuthError as exc:
        raise AccessDenied(401, exc.code, exc.message) from None
    if approved and not producer.approved:
        raise AccessDenied(403, "PRODUCER_ACCESS_REQUIRED", PRODUCER_ACCESS_MESSAGE)
    g.producer = producer
    return producer


def reader_id(settings: Settings) -> str:
    """For media and event streams: the producer of a signed URL (signing.py) or, without a
    signature, of the bearer token."""
    if "signature" not in request.args:
        return current_producer(settings, approved=False).id
    try:
        return signing.verify(settings, request.path, request.args)
    except signing.LinkRefused as exc:
        raise AccessDenied(401, exc.code, exc.message) from None
