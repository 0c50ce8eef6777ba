"""``make run``: the whole platform in one process with embedded defaults.

Each service keeps its own port, database file and queue, exactly as when deployed apart; only
the bus (in-memory), databases (SQLite) and object store (./var/objects) are embedded.
``BEATPASS_HTTP_PORT`` moves the gateway off 8080; the workers then take the next four ports.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

os.environ.setdefault("BEATPASS_DEV_MODE", "true")

from beatpass_common import runner
from beatpass_common.auth import mint_dev_token
from beatpass_common.config import DEFAULT_PORTS, Settings
from beatpass_common.logs import setup_logging

SERVICES = ("catalog", "validation", "waveform", "fingerprint", "upload")


def main() -> int:
    setup_logging("all", os.environ.get("BEATPASS_LOG_LEVEL", "WARNING"))
    base = Settings()
    ports = dict(DEFAULT_PORTS)
    if base.http_port is not None:
        ports = {name: base.http_port + (0 if name == "upload" else i + 1) for i, name in enumerate(SERVICES[:-1])}
        ports["upload"] = base.http_port
        base = base.model_copy(update={"catalog_url": f"http://{base.http_host}:{ports['catalog']}"})
    runtimes = []
    for name in SERVICES:
        settings = base.model_copy(update={"http_port": ports[name]})
        runtimes.append(importlib.import_module(f"beatpass_{name}.service").build(settings))
    url = f"http://{base.http_host}:{ports['upload']}"
    token = mint_dev_token(base, "demo-producer")

    def banner():
        secret = (
            "the built-in DEV secret (never use it in production)" if base.uses_dev_secret else "BEATPASS_JWT_SECRET"
        )
        print(
            f"""
BeatPass upload platform is running (embedded mode: in-memory bus, SQLite and files under {base.var_dir}/).

  Upload page:  {url}/backstage/upload   (signs in as the demo approved producer)
  API:          {url}/api/v1   (OpenAPI: {url}/api/v1/openapi.json)
  Metrics:      {url}/metrics, workers on ports {", ".join(str(ports[s]) for s in SERVICES[:-1])}

  Dev token for producer "demo-producer", signed with {secret}:
  export TOKEN={token}

  Try:  curl -s -H "Authorization: Bearer $TOKEN" {url}/api/v1/me
  Stop with Ctrl-C.
""",
            flush=True,
        )

    runner.run(runtimes, on_started=banner)
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
