"""Duplicate lookup with the shift-robust index at scale, on PostgreSQL (issue #17): latency
p50/p95/p99 of the whole lookup (exact, acoustic, shifted) with ``--tracks`` synthetic tracks in
both indexes plus the real originals, the shift index's size per track, its build time, and the
outcomes of the real queries after the load.

The synthetic load: Chromaprint prints as ``bench_fingerprint.load`` makes them; shift postings at
the rate of index keys per second measured on the real originals, spread evenly over the keys
the index can hold (``triplets.index_keys``). Synthetic tracks have no stored peaks: one that
gathers enough votes to be a candidate is skipped by the verification, so the figures also print
how many such chance candidates a lookup meets (they would each cost one verification).

    .venv/bin/python services/fingerprint/bench/bench_shifted_scale.py [--tracks 100000] [--eval-tracks 4]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the evaluation set
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the Chromaprint loader

import beat_synth as synth
import beat_transforms as transforms
from bench_fingerprint import load, outcome_holds
from conftest import build_evalset, print_of, wav_bytes

from beatpass_common.db import make_engine, migrate, session_factory, transaction
from beatpass_common.testing import infra
from beatpass_fingerprint import index
from beatpass_fingerprint.search import find_duplicate
from beatpass_fingerprint.service import MIGRATIONS
from beatpass_fingerprint.shifted import MIN_VOTES
from beatpass_fingerprint.triplets import BANDS, SHAPES, index_keys, query_keys, sampled, triplets


def load_shift(engine, keys_per_s: float, chunk: int = 50_000) -> float:
    """Shift postings for every synthetic track (``bench_fingerprint.load``'s), ``keys_per_s`` per
    second of its length on average, as a restore would write them; returns the build time."""
    rng = np.random.default_rng(17)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        ids, durations = map(
            np.array,
            zip(
                *conn.exec_driver_sql(
                    "SELECT id, duration_s FROM fingerprints WHERE source = 'synthetic' ORDER BY id"
                ).all(),
                strict=False,
            ),
        )
        existing = dict(conn.exec_driver_sql("SELECT key, postings FROM shift_postings").all())
        conn.exec_driver_sql("DELETE FROM shift_postings")
    shapes = np.arange(SHAPES, dtype=np.int64)
    keys = (shapes[sampled(shapes)][:, None] * BANDS + np.arange(BANDS)).ravel()
    mean = float(durations.sum()) * keys_per_s / len(keys)
    weights = durations / durations.sum()  # a longer track holds more keys
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            counts = rng.poisson(mean, len(part))
            holders = rng.choice(ids, int(counts.sum()), p=weights).astype(">i4")
            ends = np.cumsum(counts)
            with cur.copy("COPY shift_postings (key, postings) FROM STDIN") as copy:
                for key, a, z in zip(part.tolist(), (ends - counts).tolist(), ends.tolist(), strict=False):
                    blob = existing.pop(key, b"") + holders[a:z].tobytes()
                    if blob:
                        copy.write_row((key, blob))
            raw.commit()
        with cur.copy("COPY shift_postings (key, postings) FROM STDIN") as copy:
            for key, blob in existing.items():  # keys outside the sampled set cannot occur; kept anyway
                copy.write_row((key, blob))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE shift_postings")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000, help="synthetic tracks to index in PostgreSQL")
    parser.add_argument("--eval-tracks", type=int, default=4, help="generated beats indexed for real")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    ev = build_evalset(args.eval_tracks, seed0=100, shifts=transforms.SHIFT_SLICE)
    admin, container = infra.postgres_admin_url()
    name = f"beatpass_fp_shift_bench_{infra.run_id()}"
    url = infra.create_database(admin, name)
    try:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        factory = session_factory(engine)
        with transaction(factory) as session:
            for track, data in ev.originals.items():
                index.add(
                    session,
                    track_id=track,
                    producer_id="bench",
                    source=track,
                    audio=ev.print(data),
                    indexed=True,
                    result={},
                )
        originals = [ev.print(d) for d in ev.originals.values()]
        keys_per_s = sum(len(index_keys(triplets(a.peaks))) for a in originals) / sum(a.duration_s for a in originals)
        queries = (
            [(n, o, ev.print(d), "duplicate") for n, o, d in ev.positives]
            + [(n, o, ev.print(d), "found") for n, o, d in ev.shifted]
            + [(n, o, ev.print(d), None) for n, o, d in ev.negatives]
            + [
                ("long", None, print_of(wav_bytes(synth.render(synth.random_spec(300 + i, 180.0)), synth.SR)), None)
                for i in range(10)
            ]
        )  # 3-minute beats, not in the index
        print(
            f"\n## Shift-robust lookup at scale: PostgreSQL, {args.tracks} synthetic tracks + {len(ev.originals)} real ones"
        )
        chroma_build = load(engine, args.tracks)
        shift_build = load_shift(engine, keys_per_s)
        with engine.connect() as conn:
            tracks, rows, postings, total = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM fingerprints), (SELECT count(*) FROM shift_postings), "
                    "(SELECT sum(length(postings)) / 4 FROM shift_postings), pg_total_relation_size('shift_postings')"
                )
            ).one()
        print(
            f"shift index: {keys_per_s:.2f} keys per second of audio (measured on the originals); {postings} postings = "
            f"{postings / tracks:.0f} per track in {rows} packed rows; {total / 2**20:.0f} MiB = "
            f"{total / tracks / 1024:.2f} KiB per track; build {shift_build:.0f} s (Chromaprint's {chroma_build:.0f} s)"
        )
        wrong, chance = 0, []
        latencies: dict[str, list[float]] = defaultdict(list)
        for repeat in range(2):  # the first pass warms the cache
            for _label, original, audio, expect in queries:
                t = time.perf_counter()
                with transaction(factory) as session:
                    found = find_duplicate(session, audio, set())
                elapsed = (time.perf_counter() - t) * 1000
                if repeat:
                    latencies[f"{math.ceil(audio.duration_s / 60)} min"].append(elapsed)
                    wrong += not outcome_holds(found, original, expect)
                    with transaction(factory) as session:
                        counts = np.bincount(index.shift_postings(session, query_keys(triplets(audio.peaks)), set()))
                        synthetic = session.execute(
                            text("SELECT count(*) FROM fingerprints WHERE source = 'synthetic' AND id = ANY(:ids)"),
                            {"ids": np.flatnonzero(counts >= MIN_VOTES).tolist()},
                        ).scalar()
                    chance.append(synthetic)
        print(
            f"lookup (exact, acoustic, shifted) of {len(queries)} real queries; outcomes other than expected: {wrong}; "
            f"chance candidates (synthetic tracks with >= {MIN_VOTES} votes) per lookup: max {max(chance)}, "
            f"mean {np.mean(chance):.2f}"
        )
        every = [ms for values in latencies.values() for ms in values]
        for length, ms in sorted(latencies.items()) + [("all", every)]:
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            print(
                f"  queries up to {length}: n={len(ms)} p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
                f"max {max(ms):.1f} ms (goal p95 < 50 ms at 100k tracks)"
            )
        engine.dispose()
    finally:
        if args.keep:
            print(f"kept database {url}")
        else:
            infra.drop_database(admin, name)
            if container is not None:
                container.stop()


if __name__ == "__main__":
    main()
