"""Fingerprint workers side by side on PostgreSQL: throughput of 4 workers ÷ 1 worker (issue #16),
with the per-content locks and, for comparison in the same run, with the one index lock they
replaced. Each worker is a process running the real handler (``handle_track_validated``) on
distinct generated 60 s beats against an index preloaded with synthetic tracks.

Two workloads: the whole step (decode, fingerprint, lookup, insert), and the database part alone
(lookup and insert of prints made beforehand), where a lock that serialises shows most.

    .venv/bin/python services/fingerprint/bench/bench_scaling.py [--tracks 20000] [--queries 48] [--workers 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the beat generator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the index loader

import beat_synth as synth
from bench_fingerprint import load
from conftest import wav_bytes

from beatpass_common.config import Settings
from beatpass_common.db import make_engine, migrate, session_factory
from beatpass_common.events import AudioFacts, CoverFacts, ObjectRef, TrackValidated, new_event
from beatpass_common.isolation import Runner
from beatpass_common.outbox import Outbox
from beatpass_common.storage import LocalStore
from beatpass_common.testing import infra
from beatpass_fingerprint import handlers, index
from beatpass_fingerprint.metrics import FingerprintMetrics
from beatpass_fingerprint.models import OutboxEvent
from beatpass_fingerprint.service import MIGRATIONS

_OLD_LOCK_KEY = 0x62706670  # the single index lock before per-content locks


def _one_index_lock(session, *_args, **_kwargs) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _OLD_LOCK_KEY})


def _worker(
    url: str, var_dir: str, jobs: list[tuple[str, str, int]], lock: str, preprinted: bool, ready, start, done
) -> None:
    """Run the handler for ``jobs`` (track id, object key, size) once ``start`` is set."""
    settings = Settings(var_dir=Path(var_dir))
    factory = session_factory(make_engine(url))
    outbox = Outbox(OutboxEvent, factory, lambda _event: None)
    runner = Runner(isolated=False)
    if lock == "one index lock":
        index.lock_content = _one_index_lock
    if preprinted:  # the database part alone: prints made here, before the clock starts
        prints = {
            key: handlers.print_audio(settings, ObjectRef(bucket=settings.uploads_bucket, key=key, size=size))
            for _, key, size in jobs
        }
        runner = _Preprinted(prints)
    events = [
        new_event(
            "track.validated",
            TrackValidated(
                source=ObjectRef(bucket=settings.uploads_bucket, key=key, size=size),
                audio=AudioFacts(format="wav", sample_rate=44100, bit_depth=16, channels=2, duration_s=60),
                cover=CoverFacts(format="jpeg", width=1000, height=1000),
            ),
            producer_id="bench",
            track_id=track_id,
        )
        for track_id, key, size in jobs
    ]
    handle = partial(
        handlers.handle_track_validated,
        runner=runner,
        session_factory=factory,
        outbox=outbox,
        settings=settings,
        metrics=FingerprintMetrics(),
    )
    ready.release()
    start.wait()
    for event in events:
        handle(event)
    done.release()


class _Preprinted:
    def __init__(self, prints):
        self._prints = prints

    def call(self, _fn, _settings, source, *_args, **_kwargs):
        return self._prints[source.key]


def run(
    url: str, var_dir: str, keys: list[tuple[str, int]], workers: int, lock: str, preprinted: bool, tag: str
) -> float:
    """Tracks per second of ``workers`` processes sharing ``keys`` (a fresh track id each)."""
    ctx = multiprocessing.get_context("spawn")
    ready, start, done = ctx.Semaphore(0), ctx.Event(), ctx.Semaphore(0)
    jobs = [(f"{tag}-{i}", key, size) for i, (key, size) in enumerate(keys)]
    procs = [
        ctx.Process(target=_worker, args=(url, var_dir, jobs[w::workers], lock, preprinted, ready, start, done))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=600):
            for p in procs:
                p.kill()
            raise RuntimeError("a worker did not start")
    t = time.perf_counter()
    start.set()
    finished, deadline = 0, time.monotonic() + 1800
    while finished < len(procs):
        if done.acquire(timeout=1):
            finished += 1
        elif any(p.exitcode not in (None, 0) for p in procs) or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            raise RuntimeError("a worker failed or did not finish")
    elapsed = time.perf_counter() - t
    for p in procs:
        p.join(60)
    engine = make_engine(url)
    with engine.begin() as conn:  # out of the index again: every run meets the same index
        conn.execute(text("DELETE FROM fingerprints WHERE track_id LIKE :t"), {"t": f"{tag}-%"})
    engine.dispose()
    return len(keys) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=20_000, help="synthetic tracks preloaded into the index")
    parser.add_argument("--queries", type=int, default=48, help="distinct generated 60 s beats per run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration, best kept")
    args = parser.parse_args()
    admin, container = infra.postgres_admin_url()
    name = f"beatpass_fp_scaling_{infra.run_id()}"
    url = infra.create_database(admin, name)
    try:
        with tempfile.TemporaryDirectory() as var_dir:
            settings = Settings(var_dir=Path(var_dir))
            store = LocalStore(str(Path(var_dir) / "objects"))
            store.ensure_bucket(settings.uploads_bucket)
            keys = []
            for i in range(args.queries):
                data = wav_bytes(synth.render(synth.random_spec(3000 + i, 60.0)), synth.SR)
                store.put_bytes(settings.uploads_bucket, f"q/{i}", data, "audio/wav")
                keys.append((f"q/{i}", len(data)))
            migrate(url, MIGRATIONS)
            engine = make_engine(url)
            print(
                f"\n## Scaling: {args.workers} workers / 1 on PostgreSQL ({args.tracks} synthetic tracks indexed, "
                f"{args.queries} distinct 60 s beats per run, best of {args.repeats}, {os.cpu_count()} CPUs)"
            )
            load(engine, args.tracks)
            engine.dispose()
            configs = [
                (preprinted, lock, w)
                for preprinted in (False, True)
                for lock in ("per-content locks", "one index lock")
                for w in (1, args.workers)
            ]
            best: dict[tuple, float] = {}
            for rep in range(args.repeats):  # interleaved, best of each: the machine is shared
                for preprinted, lock, w in configs:
                    rate = run(url, var_dir, keys, w, lock, preprinted, f"r{rep}w{w}p{int(preprinted)}{lock[0]}")
                    best[preprinted, lock, w] = max(rate, best.get((preprinted, lock, w), 0.0))
            for preprinted, what in (
                (False, "whole step (decode + fingerprint + lookup + insert)"),
                (True, "lookup + insert only (prints made beforehand)"),
            ):
                for lock in ("per-content locks", "one index lock"):
                    one, many = best[preprinted, lock, 1], best[preprinted, lock, args.workers]
                    goal = " (goal >= 3.0)" if lock == "per-content locks" and not preprinted else ""
                    print(
                        f"{what:52s} {lock:17s}: 1 worker {one:6.1f} tracks/s, {args.workers} workers "
                        f"{many:6.1f} tracks/s, ratio {many / one:.2f}{goal}"
                    )
    finally:
        infra.drop_database(admin, name)
        if container is not None:
            container.stop()


if __name__ == "__main__":
    main()
