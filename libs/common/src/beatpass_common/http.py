"""Flask pieces every service shares: health and metrics routes, RED metrics, problem documents."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

from flask import Flask, Response, g, jsonify, request
from prometheus_client import Counter, Histogram

from . import request_ids
from .metrics import HTTP_BUCKETS, render_metrics


@lru_cache
def _http_metrics(service: str):
    p = f"beatpass_{service}_http"
    return (
        Counter(f"{p}_requests_total", "HTTP requests", ["method", "route", "status"]),
        Histogram(f"{p}_request_duration_seconds", "HTTP request duration", ["method", "route"], buckets=HTTP_BUCKETS),
    )


def problem(
    status: int,
    title: str,
    errors: list[dict] | None = None,
    *,
    type_: str = "about:blank",
    detail: str | None = None,
    headers: dict | None = None,
) -> Response:
    """An RFC 9457 problem document with BeatPass's ``errors: [{field, code, message}]`` list and
    the request's ``request_id`` (what support asks for)."""
    body = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["errors"] = errors or []
    if (request_id := request_ids.current()) is not None:
        body["request_id"] = request_id
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


OPS_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})


def instrument(
    app: Flask,
    service: str,
    ready: Callable[[], dict[str, bool]],
    live: Callable[[], dict[str, bool]] = dict,
    *,
    ops_routes: bool = True,
) -> Flask:
    """Add request metrics to ``app``, and /healthz (liveness), /readyz and /metrics unless
    ``ops_routes`` is false (they are then served by ``ops_app`` on a port of their own)."""
    requests_total, duration = _http_metrics(service)

    @app.before_request
    def _start_timer():
        g._beatpass_started = time.perf_counter()

    @app.after_request
    def _record(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        if route not in OPS_ROUTES:
            requests_total.labels(request.method, route, str(response.status_code)).inc()
            duration.labels(request.method, route).observe(
                time.perf_counter() - g.get("_beatpass_started", time.perf_counter())
            )
        return response

    if ops_routes:
        _add_ops_routes(app, service, ready, live)
    return app


def ops_app(service: str, ready: Callable[[], dict[str, bool]], live: Callable[[], dict[str, bool]] = dict) -> Flask:
    """A Flask app with only /healthz, /readyz and /metrics (the ops port)."""
    return _add_ops_routes(Flask(f"beatpass_{service}_ops"), service, ready, live)


class PortDispatch:
    """WSGI middleware: requests that arrived on ``ops_port`` go to ``ops``, all others to ``main``.

    The port is the one the connection's socket is bound to (werkzeug's and gunicorn's socket in
    the environ), never the Host header a client chooses. Unknown (a test client): ``main``.
    """

    def __init__(self, main, ops, ops_port: int):
        self.main, self.ops, self.ops_port = main, ops, ops_port

    def local_port(self, environ) -> int | None:
        sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
        try:
            return sock.getsockname()[1] if sock is not None else None
        except (OSError, AttributeError, IndexError, TypeError):
            return None

    def __call__(self, environ, start_response):
        app = self.ops if self.local_port(environ) == self.ops_port else self.main
        return app(environ, start_response)


def _add_ops_routes(
    app: Flask, service: str, ready: Callable[[], dict[str, bool]], live: Callable[[], dict[str, bool]]
) -> Flask:
    @app.get("/healthz")
    def healthz():
        checks = live()
        ok = all(checks.values())
        return jsonify(status="ok" if ok else "stuck", service=service, checks=checks), 200 if ok else 503

    @app.get("/readyz")
    def readyz():
        checks = ready()
        ok = all(checks.values())
        return jsonify(status="ready" if ok else "not ready", checks=checks), 200 if ok else 503

    @app.get("/metrics")
    def metrics():
        body, content_type = render_metrics()
        return Response(body, content_type=content_type)

    return app
