"""Request ids: every HTTP answer carries ``X-Request-Id`` and every log line and event a request
causes carries the same id, so support finds a request's whole story from one line.

A client's own id is kept when it is 1-64 characters of ``A-Z a-z 0-9 . _ -`` (safe in headers,
logs and JSON); anything else is replaced by a new one, never refused. The gateway sends its id
on to the catalog's internal API, which keeps it (``install`` on both apps).
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

from . import logs

HEADER = "X-Request-Id"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def accept(value: str | None) -> str:
    """``value`` when it is a usable request id, else a new one (32 hex digits)."""
    if value is not None and _VALID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current() -> str | None:
    """The request id of the request being handled (decided on first use); None outside one."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = accept(request.headers.get(HEADER))
    return g.request_id


def install(app: Flask) -> None:
    """Bind the id to the log context for the request and answer it on every response, errors
    included. Install before other before-request hooks: one that answers early (a refusal) skips
    the hooks after it, though the header is still set on its answer."""

    def _bind() -> None:
        g._request_log_token = logs.bind(request_id=current())

    def _answer(response: Response) -> Response:
        response.headers[HEADER] = current()
        return response

    def _unbind(_exc) -> None:
        token = g.pop("_request_log_token", None)
        if token is not None:
            logs.unbind(token)

    app.before_request_funcs.setdefault(None, []).insert(0, _bind)
    app.after_request(_answer)
    app.teardown_request(_unbind)
