"""What the gateway accepts from a request before any rule looks at it: ASCII whole numbers in
headers and query strings, and JSON bodies of bounded size and nesting (docs/api-limits.md)."""

from __future__ import annotations

import json
import re

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from beatpass_common.config import Settings

# str.isdigit() and int() also take "²", "٣" and full-width digits: only 0-9 is a number here.
_ASCII_WHOLE = re.compile(r"[0-9]{1,19}")  # 19 digits: always fits a signed 64-bit column

BODY_INVALID = "The request body must be a JSON object."


class BodyInvalid(Exception):
    """The body is not JSON, not an object, or nested deeper than ``json_depth_max``."""

    code = "BODY_INVALID"
    message = BODY_INVALID


class BodyTextInvalid(BodyInvalid):
    """A text in the body holds what no database or event can carry: a lone UTF-16 surrogate
    (``"\\ud800"`` is valid JSON but not Unicode text) or a NUL character (PostgreSQL text refuses it)."""

    code = "BODY_TEXT_INVALID"
    message = "Text in the request body must be valid Unicode without NUL characters."


class BodyTooLarge(Exception):
    code = "BODY_TOO_LARGE"

    def __init__(self, limit: int):
        self.message = f"The request body must be at most {limit} bytes."
        super().__init__(self.message)


def ascii_whole_number(value: str | None) -> int | None:
    """``value`` as a non-negative integer when it is 1 to 19 ASCII digits, else None
    (None stays None: the caller decides whether the value was required)."""
    if value is None or not _ASCII_WHOLE.fullmatch(value):
        return None
    return int(value)


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _depth(value) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), walked without recursion.

    Raises BodyTextInvalid on a key or string that is not storable text."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str) and not _storable(item):
            raise BodyTextInvalid()
        if isinstance(item, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's parser would take NaN and Infinity


def json_object(settings: Settings) -> dict:
    """The request's JSON object body.

    Raises BodyTooLarge past ``json_body_max_bytes`` (declared or streamed), BodyInvalid when it
    is not UTF-8 JSON, not an object, or nested deeper than ``json_depth_max``, and BodyTextInvalid
    when a text in it holds a lone surrogate or a NUL character.
    """
    request.max_content_length = settings.json_body_max_bytes  # werkzeug stops reading past it
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise BodyTooLarge(settings.json_body_max_bytes) from None
    try:
        # The C parser raises RecursionError long before a deep body exhausts the stack.
        body = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise BodyInvalid() from None
    if not isinstance(body, dict) or _depth(body) > settings.json_depth_max:
        raise BodyInvalid()
    return body
