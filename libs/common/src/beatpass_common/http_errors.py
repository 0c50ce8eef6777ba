"""HTTP errors as problem documents wherever they are answered: by the Flask app, by werkzeug's
development server before the app sees the request (400, 414, 431), and by gunicorn's workers.
None of them names the server software or its version."""

from __future__ import annotations

import json
from http import HTTPStatus

from werkzeug.serving import WSGIRequestHandler

from . import request_ids

SERVER_NAME = "beatpass"

# status -> (stable code, the sentence a client reads)
ERRORS = {
    400: ("BAD_REQUEST", "The request is not valid HTTP."),
    401: ("UNAUTHORIZED", "Sign in to continue."),
    403: ("FORBIDDEN", "This request is not allowed."),
    404: ("NOT_FOUND", "Not found."),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed."),
    408: ("REQUEST_TIMEOUT", "The request took too long to arrive."),
    411: ("LENGTH_REQUIRED", "Content-Length is required."),
    413: ("BODY_TOO_LARGE", "The request body is too large."),
    414: ("URI_TOO_LONG", "The request line is too long."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "This content type is not accepted here."),
    417: ("EXPECTATION_FAILED", "Only Expect: 100-continue is supported."),
    431: ("HEADERS_TOO_LARGE", "The request headers are too large or too many."),
    500: ("INTERNAL_ERROR", "Something went wrong on our side. Nothing was saved; try again."),
    501: ("NOT_IMPLEMENTED", "This request is not supported."),
}


def describe(status: int) -> tuple[str, str]:
    """(code, sentence) for ``status``; a status without an entry is named after its phrase."""
    if status in ERRORS:
        return ERRORS[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return phrase.upper().replace(" ", "_").replace("-", "_"), f"{phrase}."


def problem_document(status: int, request_id: str | None = None) -> dict:
    """The RFC 9457 body BeatPass answers with for a bare HTTP error ``status``."""
    code, message = describe(status)
    body = {
        "type": "about:blank",
        "title": message,
        "status": status,
        "errors": [{"field": None, "code": code, "message": message}],
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


class ProblemRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler without version disclosure in ``Server``, whose own errors
    (a malformed request line, too many or too long headers) are problem documents."""

    server_version = SERVER_NAME  # werkzeug's says Werkzeug/<version>

    def version_string(self) -> str:  # http.server appends Python/<version>
        return SERVER_NAME

    def send_error(self, code, message=None, explain=None):
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, message)
        self.send_header("Connection", "close")
        request_id = request_ids.accept(None)  # the request could not be read, nor its id
        self.send_header(request_ids.HEADER, request_id)
        body = json.dumps(problem_document(code, request_id)).encode()
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def write_gunicorn_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for gunicorn.util.write_error: the same answer as a problem document."""
    request_id = request_ids.accept(None)  # the request could not be read, nor its id
    body = json.dumps(problem_document(status_int, request_id)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
        f"{request_ids.HEADER}: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode("latin-1") + body)
