"""The database step of a pod's start: ``python -m beatpass_common.schema SERVICE``.

Kubernetes runs it as each Deployment's init container, so the service container (and its
startupProbe) only starts once its database is at the schema this image expects:

- ``BEATPASS_MIGRATE_ON_START=true`` (dev overlay): upgrade to head here (under the migration
  advisory lock, so parallel pods take turns);
- ``false`` (prod: the release's migration Job upgrades once, before the rollout): wait until the
  database reaches this image's head revision, at most ``BEATPASS_MIGRATION_WAIT_S``; exit 1 with
  a sentence naming both revisions when it does not.

Exit 0 when the schema is at head. SERVICE: upload, fingerprint or catalog.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from .config import Settings
from .db import migrate, schema_at_head

SERVICES_WITH_DATABASE = ("upload", "fingerprint", "catalog")
POLL_S = 2.0


def migrations_dir(service: str) -> Path:
    """The service package's Alembic folder (``beatpass_<svc>/migrations``), without importing its app."""
    spec = importlib.util.find_spec(f"beatpass_{service}")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"beatpass-{service} is not installed in this image")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def ensure(service: str, settings: Settings, *, poll_s: float = POLL_S) -> tuple[bool, str]:
    """Upgrade or wait as ``settings.migrate_on_start`` says; (at head, a sentence for the log)."""
    url, folder = settings.database_url(service), migrations_dir(service)
    if settings.migrate_on_start:
        migrate(url, folder)
        return True, f"beatpass-{service}: database upgraded to head"
    deadline = time.monotonic() + settings.migration_wait_s
    while True:
        try:
            current, head = schema_at_head(url, folder)
        except Exception as exc:  # noqa: BLE001 - the database may still be starting: keep waiting
            current, head = f"unreachable ({type(exc).__name__})", "?"
        if current == head:
            return True, f"beatpass-{service}: database at {head}"
        if time.monotonic() >= deadline:
            return False, (
                f"beatpass-{service}: database at {current}, this image needs {head}; the release's "
                f"migration Job did not finish within BEATPASS_MIGRATION_WAIT_S "
                f"({settings.migration_wait_s:g} s) (docs/operations.md, Releases)"
            )
        time.sleep(poll_s)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVICES_WITH_DATABASE:
        print(f"usage: python -m beatpass_common.schema {{{','.join(SERVICES_WITH_DATABASE)}}}", file=sys.stderr)
        return 2
    ok, sentence = ensure(argv[0], Settings())
    print(sentence, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
