"""The catalog process and its operator commands.

    python -m beatpass_catalog [serve]            run the service
    python -m beatpass_catalog migrate            upgrade the database and exit
    python -m beatpass_catalog list {overdue,failed,in-review}
    python -m beatpass_catalog redrive TRACK_ID [--step STEP]
    python -m beatpass_catalog disputes
    python -m beatpass_catalog resolve TRACK_ID {accept,uphold} --operator NAME --note TEXT
    python -m beatpass_catalog dead {list,replay} SERVICE [--limit N]
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from kombu import Connection
from sqlalchemy import select

from beatpass_common import runner
from beatpass_common.bus import Publisher, topology
from beatpass_common.config import get_settings
from beatpass_common.events import parse_event
from beatpass_common.logs import setup_logging

from .disputes import DisputeError, open_disputes, resolve_dispute
from .models import Step, Track
from .records import now


def _deps(settings):
    from .service import build_deps

    publisher = Publisher(settings.bus_url)
    publisher.declare()
    return build_deps(settings, publisher.publish)


def _row(track: Track) -> str:
    steps = " ".join(f"{s.name}={s.state}({s.attempts})" for s in track.steps)
    return f"{track.id}  {track.status:<10} producer={track.producer_id}  {track.title!r}  {steps}"


def cmd_list(args, settings) -> int:
    deps = _deps(settings)
    with deps.factory() as s:
        if args.what == "overdue":
            tracks = s.scalars(select(Track).join(Step).where(Step.state == "running", Step.deadline_at < now())
                               .distinct()).all()
        else:
            status = {"failed": "failed", "in-review": "in_review"}[args.what]
            tracks = s.scalars(select(Track).where(Track.status == status).order_by(Track.updated_at)).all()
        for track in tracks:
            print(_row(track))
            if track.dispute:
                print(f"    dispute: {json.dumps(track.dispute)}")
    return 0


def cmd_redrive(args, settings) -> int:
    """Start a step again now: re-publish its starting event with a fresh deadline."""
    from .reaper import STARTING_EVENT

    deps = _deps(settings)
    with deps.factory() as s, s.begin():
        track = s.get(Track, args.track_id)
        if track is None:
            print(f"no track {args.track_id}")
            return 1
        step = track.step(args.step) if args.step else next(
            (st for st in track.steps if st.state in {"running", "failed"}), None)
        body = step and getattr(track, STARTING_EVENT[step.name])
        if step is None or not body:
            print("nothing to re-drive: no running or failed step with a starting event")
            return 1
        if track.status == "failed":
            track.status, track.errors = "processing", []
        step.state, step.error, step.attempts = "running", None, step.attempts + 1
        step.deadline_at = now() + timedelta(seconds=settings.step_deadline_s)
        deps.outbox.add(s, parse_event(body))
    deps.outbox.relay_once()
    print(f"re-drove {step.name} of {args.track_id}")
    return 0


def cmd_disputes(args, settings) -> int:
    deps = _deps(settings)
    with deps.factory() as s:
        for track in open_disputes(s):
            print(_row(track))
            print(f"    duplicate: {json.dumps(track.duplicate)}\n    dispute: {json.dumps(track.dispute)}")
    return 0


def cmd_resolve(args, settings) -> int:
    deps = _deps(settings)
    try:
        with deps.factory() as s, s.begin():
            track = resolve_dispute(s, deps, args.track_id, accept=args.decision == "accept",
                                    operator=args.operator, note=args.note)
            status = track.status
    except DisputeError as exc:
        print(exc.message)
        return 1
    deps.outbox.relay_once()
    print(f"{args.track_id}: dispute {args.decision}ed by {args.operator}; status {status}")
    return 0


def cmd_dead(args, settings) -> int:
    """List or replay messages of ``<service>.dead``; a replayed message goes back to its queue."""
    name = topology.dead_queue_name(args.service)
    publisher = Publisher(settings.bus_url) if args.action == "replay" else None
    seen = 0
    with Connection(settings.bus_url) as conn:
        channel = conn.channel()
        while seen < args.limit:
            message = channel.basic_get(name)
            if message is None:
                break
            seen += 1
            headers = dict(message.headers or {})
            reason = headers.get("x-beatpass-dead-reason", "?")
            source = headers.get("x-beatpass-source-queue")
            print(f"[{seen}] from={source} reason={reason}\n    {message.body[:300]!r}")
            if args.action == "replay" and source:
                clean = {k: v for k, v in headers.items() if not k.startswith("x-beatpass-") and k != "x-death"}
                publisher.publish_raw(message.body, topology.RETRY, source, clean)
                channel.basic_ack(message.delivery_tag)
            # Listed messages stay unacknowledged until the connection closes, then go back.
    print(f"{seen} message(s) {'replayed' if args.action == 'replay' else 'listed'}")
    return 0


def serve(settings) -> int:
    from .service import build

    setup_logging("catalog")
    runner.run([build(settings)])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beatpass-catalog", description="BeatPass catalog service and operator tools")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the service (default)")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    p = sub.add_parser("list", help="list tracks needing attention")
    p.add_argument("what", choices=["overdue", "failed", "in-review"])
    p = sub.add_parser("redrive", help="start a stuck or failed step again")
    p.add_argument("track_id")
    p.add_argument("--step", choices=["validation", "waveform", "fingerprint"])
    sub.add_parser("disputes", help="list open disputes and reviews")
    p = sub.add_parser("resolve", help="resolve a dispute")
    p.add_argument("track_id")
    p.add_argument("decision", choices=["accept", "uphold"])
    p.add_argument("--operator", required=True)
    p.add_argument("--note", required=True)
    p = sub.add_parser("dead", help="inspect or replay dead-lettered messages")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("service")
    p.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command in (None, "serve"):
        return serve(settings)
    if args.command == "migrate":
        from .service import MIGRATIONS
        from beatpass_common.db import migrate

        migrate(settings.database_url("catalog"), MIGRATIONS)
        return 0
    return {"list": cmd_list, "redrive": cmd_redrive, "disputes": cmd_disputes, "resolve": cmd_resolve,
            "dead": cmd_dead}[args.command](args, settings)
