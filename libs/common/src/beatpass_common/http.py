"""Flask pieces every service shares: health and metrics routes, RED metrics, problem documents."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Callable

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


def problem(status: int, title: str, errors: list[dict] | None = None, *, type_: str = "about:blank",
            detail: str | None = None, headers: dict | None = None) -> Response:
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


def instrument(app: Flask, service: str, ready: Callable[[], dict[str, bool]],
               live: Callable[[], dict[str, bool]] = dict) -> Flask:
    """Add /healthz (liveness), /readyz, /metrics and request metrics to ``app``."""
    requests_total, duration = _http_metrics(service)

    @app.before_request
    def _start_timer():
        g._beatpass_started = time.perf_counter()

    @app.after_request
    def _record(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        if route not in {"/metrics", "/healthz", "/readyz"}:
            requests_total.labels(request.method, route, str(response.status_code)).inc()
            duration.labels(request.method, route).observe(time.perf_counter() - g.get("_beatpass_started", time.perf_counter()))
        return response

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
