"""The process side of a service: its bus consumers, background loops and HTTP server.

A service package builds a ``Runtime`` (what to run) from settings; ``run`` starts one or more
runtimes in this process and stops them cleanly on SIGTERM/SIGINT: the HTTP server stops
accepting, consumers finish the message in hand and stop, loops end.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from .bus import Bus
from .config import MissingSecret, Settings
from .http import PortDispatch, instrument, ops_app
from .http_errors import ProblemRequestHandler
from .logs import setup_logging

log = logging.getLogger(__name__)


class Loop(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class Runtime:
    name: str
    settings: Settings
    bus: Bus | None = None
    app: Flask | None = None
    loops: list[Loop] = field(default_factory=list)
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    # Called when SIGTERM's grace period ends with work in hand: kill supervised child processes.
    interrupts: list[Callable[[], None]] = field(default_factory=list)
    deps: object = None  # the service's own dependencies (database, store, ...) for tests and tools
    _server: BaseWSGIServer | None = None
    _ops_server: BaseWSGIServer | None = None
    _ready: bool = False

    def readiness(self) -> dict[str, bool]:
        checks = {"started": self._ready}
        if self.bus is not None:
            checks["bus"] = self.bus.ready()
        for name, check in self.checks.items():
            try:
                checks[name] = bool(check())
            except Exception:  # noqa: BLE001 - a failing check means not ready
                checks[name] = False
        return checks

    def liveness(self) -> dict[str, bool]:
        return self.bus.live() if self.bus is not None else {}

    def interrupt(self) -> None:
        for callback in self.interrupts:
            callback()

    def wsgi(self) -> Flask:
        """The service's app. With ``settings.ops_port`` the ops routes answer only on that port:
        the app dispatches by the port a request arrived on (``http.PortDispatch``)."""
        if self.app is None:
            self.app = Flask(f"beatpass_{self.name}")
        if "beatpass_instrumented" not in self.app.extensions:
            ops_port = self.settings.ops_port
            instrument(self.app, self.name, self.readiness, self.liveness, ops_routes=ops_port is None)
            if ops_port is not None:
                # Flask's documented way to wrap its WSGI app; typed as assigning to a method
                self.app.wsgi_app = PortDispatch(  # type: ignore[method-assign]
                    self.app.wsgi_app, ops_app(self.name, self.readiness, self.liveness), ops_port
                )
            self.app.extensions["beatpass_instrumented"] = True
        return self.app

    def _serve(self, port: int, label: str) -> BaseWSGIServer:
        server = make_server(
            self.settings.http_host, port, self.wsgi(), threaded=True, request_handler=ProblemRequestHandler
        )
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{label}-{self.name}", daemon=True
        ).start()
        log.info("%s %s on http://%s:%d", self.name, label, self.settings.http_host, port)
        return server

    def start(self, *, serve_http: bool = True) -> None:
        if self.bus is not None:
            self.bus.start()
        for loop in self.loops:
            loop.start()
        if serve_http:
            self._server = self._serve(self.settings.port_for(self.name), "http")
            if self.settings.ops_port is not None:
                self._ops_server = self._serve(self.settings.ops_port, "ops")
        if self.bus is not None:
            self.bus.wait_ready(30)
        self._ready = True

    def stop(self) -> None:
        self._ready = False
        for server in (self._server, self._ops_server):
            if server is not None:
                server.shutdown()
        if self.bus is not None:
            self.bus.stop(self.settings.shutdown_grace_s, self.interrupt)
        for loop in self.loops:
            loop.stop()
        for callback in self.on_stop:
            callback()


def serve(service: str, build: Callable[[Settings], Runtime], settings: Settings) -> int:
    """The process entry of one service: build its runtime and run it until SIGTERM.

    Returns the exit status: 0 after a clean stop, 2 when a key the service needs is missing
    outside dev mode (``config.MissingSecret``; its message names the variables).
    """
    setup_logging(service)
    try:
        runtime = build(settings)
    except MissingSecret as exc:
        print(exc, file=sys.stderr)
        return 2
    run([runtime])
    return 0


def run(runtimes: list[Runtime], *, on_started: Callable[[], None] | None = None) -> None:
    """Start ``runtimes`` and block until SIGTERM or SIGINT, then drain and stop them."""
    stopping = threading.Event()

    def _signal(signum, _frame):
        log.info("received signal %d: draining", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    for runtime in runtimes:
        runtime.start()
    if on_started:
        on_started()
    stopping.wait()
    for runtime in reversed(runtimes):
        runtime.stop()
    log.info("stopped")
