"""JSON logs that carry the request, event, track and producer being worked on."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("beatpass_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields):
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields) -> contextvars.Token:
    """Add ``fields`` to the context until ``unbind(token)`` (for hooks that cannot use ``with``,
    such as a web framework's before/teardown request hooks)."""
    return _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: contextvars.Token) -> None:
    try:
        _context.reset(token)
    except ValueError:  # set in another context (a thread that was reused): start clean
        _context.set(None)


def current_field(name: str):
    """A field of the current log context (e.g. ``request_id``), None when unset."""
    return (_context.get() or {}).get(name)


def event_context(event):
    return log_context(
        event_id=event.id,
        event_type=event.type,
        track_id=event.track_id,
        producer_id=event.producer_id,
        collection_id=event.collection_id,
        request_id=getattr(event, "request_id", None),
    )


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            **(_context.get() or {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "urllib3", "werkzeug", "numba"):
        logging.getLogger(noisy).setLevel("WARNING")
