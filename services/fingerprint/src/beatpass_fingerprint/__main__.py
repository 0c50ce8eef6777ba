"""``python -m beatpass_fingerprint [serve]`` runs the service; ``migrate`` upgrades its database
and exits (what the deployment's migration Job runs); ``rehash`` moves rows fingerprinted before
the scheme-2 exact hash onto it (rehash.py), after which the old hash is no longer computed."""

import argparse
import sys

from beatpass_common.config import get_settings
from beatpass_common.db import make_engine, migrate, session_factory
from beatpass_common.logs import setup_logging
from beatpass_common.runner import run
from beatpass_common.storage import open_store

from .rehash import rehash
from .service import MIGRATIONS, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beatpass-fingerprint", description="BeatPass fingerprint service")
    parser.add_argument("command", nargs="?", choices=["serve", "migrate", "rehash"], default="serve")
    args = parser.parse_args(argv)
    setup_logging("fingerprint")
    settings = get_settings()
    if args.command == "migrate":
        migrate(settings.database_url("fingerprint"), MIGRATIONS)
        return 0
    if args.command == "rehash":
        url = settings.database_url("fingerprint")
        migrate(url, MIGRATIONS)
        done = rehash(
            session_factory(make_engine(url)), open_store(settings.resolved_storage_url(), settings.storage_region)
        )
        print(
            f"rehashed {done.upgraded} fingerprints; {done.without_audio} without their audio now match acoustically only"
        )
        return 0
    run([build(settings)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
