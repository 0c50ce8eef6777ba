"""``beatpass-upload``: run the gateway, migrate its database, or mint a dev token.

beatpass-upload [serve]
beatpass-upload migrate
beatpass-upload token --producer ID [--unapproved] [--minutes N] [--days D]
"""

from __future__ import annotations

import argparse
import sys

from beatpass_common import runner
from beatpass_common.auth import mint_dev_token
from beatpass_common.config import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beatpass-upload", description="BeatPass upload gateway")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gateway (default)")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    token = sub.add_parser("token", help="mint a dev JWT signed with the configured HS256 secret")
    token.add_argument("--producer", required=True, help="producer id (the token's sub)")
    token.add_argument("--unapproved", action="store_true", help="a producer without upload access")
    token.add_argument("--minutes", type=int, help="upload_minutes_limit claim")
    token.add_argument("--days", type=float, default=7, help="validity in days")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "token":
        if settings.uses_dev_secret:
            print("note: signed with the built-in dev secret (set BEATPASS_JWT_SECRET in production)", file=sys.stderr)
        print(
            mint_dev_token(
                settings,
                args.producer,
                approved=not args.unapproved,
                minutes=args.minutes,
                ttl_s=int(args.days * 86400),
            )
        )
        return 0
    if args.command == "migrate":
        from beatpass_common.db import migrate

        from .service import MIGRATIONS

        migrate(settings.database_url("upload"), MIGRATIONS)
        return 0
    from .service import build

    return runner.serve("upload", build, settings)
