"""The catalog process and its operator commands.

python -m beatpass_catalog [serve]            run the service
python -m beatpass_catalog migrate            upgrade the database and exit
python -m beatpass_catalog list {overdue,failed,in-review}
python -m beatpass_catalog failed [--reason REASON] [--step STEP] [--limit N]
python -m beatpass_catalog redrive TRACK_ID [--step STEP]
python -m beatpass_catalog disputes
python -m beatpass_catalog resolve TRACK_ID {accept,uphold} --operator NAME --note TEXT
python -m beatpass_catalog dead {list,replay} SERVICE [--limit N] [--id EVENT_ID ...]
"""

from __future__ import annotations

import argparse
import json

from amqp.exceptions import NotFound
from kombu import Connection, Producer
from sqlalchemy import select

from beatpass_common import runner
from beatpass_common.bus import Publisher, topology
from beatpass_common.config import get_settings
from beatpass_common.tracks import STEPS, UNSETTLED

from .disputes import DisputeError, open_disputes, resolve_dispute
from .models import Step, Track
from .records import FAILURE_REASONS, Records, now


def _deps(settings):
    from .service import build_deps

    publisher = Publisher(settings.bus_url, ssl=settings.bus_ssl(), exchange=settings.exchange)
    publisher.declare()
    return build_deps(settings, publisher.publish)


def _row(track: Track) -> str:
    steps = " ".join(f"{s.name}={s.state}({s.attempts})" for s in track.steps)
    return f"{track.id}  {track.status:<10} producer={track.producer_id}  {track.title!r}  {steps}"


def cmd_list(args, settings) -> int:
    deps = _deps(settings)
    with deps.factory() as s:
        if args.what == "overdue":
            tracks = s.scalars(
                select(Track)
                .join(Step)
                .where(Step.state.in_(["pending", "running"]), Step.deadline_at < now(), Track.status.in_(UNSETTLED))
                .distinct()
            ).all()
        else:
            status = {"failed": "failed", "in-review": "in_review"}[args.what]
            tracks = s.scalars(select(Track).where(Track.status == status).order_by(Track.updated_at)).all()
        for track in tracks:
            print(_row(track))
            if track.dispute:
                print(f"    dispute: {json.dumps(track.dispute)}")
    return 0


def cmd_failed(args, settings) -> int:
    """Failed steps, oldest first: track, producer, step, when, reason, and the worker's error."""
    deps = _deps(settings)
    query = select(Step).join(Track).where(Step.state == "failed").order_by(Step.finished_at).limit(args.limit)
    if args.reason:
        query = query.where(Step.reason == args.reason)
    if args.step:
        query = query.where(Step.name == args.step)
    with deps.factory() as s:
        steps = s.scalars(query).all()
        for step in steps:
            when = step.finished_at.isoformat(timespec="seconds") if step.finished_at else "?"
            parked = "  parked" if step.parked else ""
            print(
                f"{step.track_id}  producer={step.track.producer_id}  step={step.name}  at={when}  "
                f"reason={step.reason or '?'}{parked}\n    {step.detail or step.error}"
            )
    print(f"{len(steps)} failed step(s)")
    return 0


def cmd_redrive(args, settings) -> int:
    """Start a step again now: re-publish its starting event (pending, with a fresh queue deadline)."""
    from .reaper import STARTING_EVENT, redrive

    deps = _deps(settings)
    with deps.factory() as s, s.begin():
        track = s.get(Track, args.track_id)
        if track is None:
            print(f"no track {args.track_id}")
            return 1
        step = (
            track.step(args.step)
            if args.step
            else (
                next((st for st in track.steps if st.state == "failed"), None)
                or next((st for st in track.steps if st.state in {"pending", "running"} and st.deadline_at), None)
            )
        )
        if step is not None and step.parked and not args.parked:
            print(
                f"the {step.name} step of {track.id} is parked in {topology.dead_queue_name(step.name)} "
                f"(reason {step.reason}): fix the cause, then re-drive it with --parked"
            )
            return 1
        if step is None or not getattr(track, STARTING_EVENT[step.name]):
            print("nothing to re-drive: no waiting, running or failed step with a starting event")
            return 1
        if track.status == "failed":
            track.status, track.errors = "processing", []
        records = Records(s, deps.outbox, settings)
        redrive(records, track, step)
        records.settle(track)
        records.refresh_collections()
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
            track = resolve_dispute(
                s, deps, args.track_id, accept=args.decision == "accept", operator=args.operator, note=args.note
            )
            status = track.status
    except DisputeError as exc:
        print(exc.message)
        return 1
    deps.outbox.relay_once()
    print(f"{args.track_id}: dispute {args.decision}ed by {args.operator}; status {status}")
    return 0


def _dead_source(headers: dict) -> tuple[str | None, str]:
    """(source queue, reason) of a dead-lettered message: our headers when the bus parked it,
    else the broker's x-death record (e.g. its delivery limit)."""
    death = (headers.get("x-death") or [{}])[0]
    source = headers.get("x-beatpass-source-queue") or death.get("queue")
    reason = headers.get("x-beatpass-dead-reason") or (f"broker: {death['reason']}" if death.get("reason") else "?")
    return source, reason


def _event_id(message) -> str | None:
    if message.properties.get("message_id"):
        return message.properties["message_id"]
    try:
        return json.loads(message.body).get("id")
    except (ValueError, AttributeError):
        return None


def cmd_dead(args, settings) -> int:
    """List, or replay, messages of ``<service>.dead``.

    list: prints them and leaves them (unacknowledged, they return to the queue when we close).
    replay: MOVES each one (optionally only ``--id``): republished to its source queue through
    the retry exchange without our bookkeeping headers, confirmed, then the dead copy is acked.
    Scans at most the queue's depth at the start, so a message that dies again is not seen twice.
    """
    name = topology.dead_queue_name(args.service)
    wanted = set(args.id or ())
    replay = args.action == "replay"
    shown = moved = 0
    with Connection(settings.bus_url, transport_options={"confirm_publish": True}, ssl=settings.bus_ssl()) as conn:
        channel = conn.channel()
        try:
            depth = channel.queue_declare(name, passive=True).message_count
        except NotFound:
            print(f"no queue {name}: is {args.service} a BeatPass service?")
            return 1
        producer = Producer(channel)
        for _ in range(depth):
            if shown >= args.limit:
                break
            message = channel.basic_get(name)
            if message is None:
                break
            event_id = _event_id(message)
            if wanted and event_id not in wanted:
                continue  # left unacknowledged: back in the queue when we close
            shown += 1
            headers = dict(message.headers or {})
            source, reason = _dead_source(headers)
            print(f"[{shown}] id={event_id} from={source} reason={reason}\n    {message.body[:300]!r}")
            if not replay:
                continue
            if not source:
                print("    not replayed: no source queue recorded")
                continue
            clean = {k: v for k, v in headers.items() if not k.startswith("x-beatpass-") and k != "x-death"}
            producer.publish(
                message.body,
                exchange=topology.RETRY,
                routing_key=source,
                headers=clean,
                message_id=message.properties.get("message_id"),
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
            )
            channel.basic_ack(message.delivery_tag)
            moved += 1
    print(f"{moved} message(s) replayed" if replay else f"{shown} message(s) listed")
    return 0


def serve(settings) -> int:
    from .service import build

    return runner.serve("catalog", build, settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beatpass-catalog", description="BeatPass catalog service and operator tools")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the service (default)")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    p = sub.add_parser("list", help="list tracks needing attention")
    p.add_argument("what", choices=["overdue", "failed", "in-review"])
    p = sub.add_parser("failed", help="list failed steps, e.g. --reason unreadable")
    p.add_argument("--reason", choices=FAILURE_REASONS)
    p.add_argument("--step", choices=STEPS)
    p.add_argument("--limit", type=int, default=200)
    p = sub.add_parser("redrive", help="start a stuck or failed step again")
    p.add_argument("track_id")
    p.add_argument("--step", choices=STEPS)
    p.add_argument("--parked", action="store_true", help="also a step parked after a hard limit (cause fixed)")
    sub.add_parser("disputes", help="list open disputes and reviews")
    p = sub.add_parser("resolve", help="resolve a dispute")
    p.add_argument("track_id")
    p.add_argument("decision", choices=["accept", "uphold"])
    p.add_argument("--operator", required=True)
    p.add_argument("--note", required=True)
    p = sub.add_parser("dead", help="inspect or replay dead-lettered messages")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("service")
    p.add_argument("--limit", type=int, default=50, help="at most this many messages")
    p.add_argument("--id", action="append", help="only the message of this event id (repeatable)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command in (None, "serve"):
        return serve(settings)
    if args.command == "migrate":
        from beatpass_common.db import migrate

        from .service import MIGRATIONS

        migrate(settings.database_url("catalog"), MIGRATIONS)
        return 0
    return {
        "list": cmd_list,
        "failed": cmd_failed,
        "redrive": cmd_redrive,
        "disputes": cmd_disputes,
        "resolve": cmd_resolve,
        "dead": cmd_dead,
    }[args.command](args, settings)
