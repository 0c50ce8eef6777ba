"""``python -m beatpass_fingerprint [serve]`` runs the service; ``migrate`` upgrades its database
and exits (what the deployment's migration Job runs)."""

import argparse
import sys

from beatpass_common.config import get_settings
from beatpass_common.db import migrate
from beatpass_common.logs import setup_logging
from beatpass_common.runner import run

from .service import MIGRATIONS, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beatpass-fingerprint", description="BeatPass fingerprint service")
    parser.add_argument("command", nargs="?", choices=["serve", "migrate"], default="serve")
    args = parser.parse_args(argv)
    setup_logging("fingerprint")
    settings = get_settings()
    if args.command == "migrate":
        migrate(settings.database_url("fingerprint"), MIGRATIONS)
        return 0
    run([build(settings)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
