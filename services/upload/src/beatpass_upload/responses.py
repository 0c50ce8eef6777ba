"""What every gateway response carries: browser security headers, and a problem document for
every HTTP error, including the ones Flask and werkzeug raise on their own (404, 405, 413 ...)."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from beatpass_common.http import problem
from beatpass_common.http_errors import describe

# JSON, files and event streams are never rendered as documents: nothing may load or frame them.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "Referrer-Policy": "no-referrer",
}


def page_policy(nonce: str) -> str:
    """The upload page's CSP: its own script and styles only (no inline script at all); the
    ``nonce`` admits the one <style> element the waveform library puts in its shadow DOM."""
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data: blob:; connect-src 'self'; "
        "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def _framing() -> Response | None:
    # Content-Length together with Transfer-Encoding is ambiguous (request smuggling, RFC 9112
    # 6.3): refuse it before reading a byte, and close the connection since the body is unread.
    if request.headers.get("Transfer-Encoding") is not None and request.headers.get("Content-Length") is not None:
        message = "Send either Content-Length or Transfer-Encoding, not both."
        return problem(
            400,
            message,
            [{"field": None, "code": "FRAMING_INVALID", "message": message}],
            headers={"Connection": "close"},
        )
    return None


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", API_POLICY)
    return response


def _http_error(exc: HTTPException) -> Response:
    code, message = describe(exc.code or 500)
    headers = {k: v for k, v in exc.get_headers() if k.lower() in {"allow", "retry-after", "www-authenticate"}}
    return problem(exc.code or 500, message, [{"field": None, "code": code, "message": message}], headers=headers)


def install(app: Flask) -> None:
    app.before_request(_framing)
    app.after_request(_secure)
    app.register_error_handler(HTTPException, _http_error)
