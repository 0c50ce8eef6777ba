"""Rows fingerprinted before the scheme-2 exact hash: the migration keeps them (scheme 1), they
still match exactly while the service computes their hash beside the new one, and ``rehash``
moves them onto scheme 2 (or, audio gone, to acoustic matching only), which ends that cost."""

import io
from datetime import UTC, datetime

import pytest
from fingerprint_env import Env
from sqlalchemy import text, update

from beatpass_common.db import make_engine, migrate, transaction
from beatpass_common.storage import LocalStore
from beatpass_fingerprint import index
from beatpass_fingerprint.chroma import analyse
from beatpass_fingerprint.models import TrackPrint
from beatpass_fingerprint.rehash import rehash
from beatpass_fingerprint.service import MIGRATIONS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def url(request, settings):
    return (
        settings.database_url("fingerprint") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )


def make_legacy(env, track_id):
    """Turn a fingerprinted row into one the old code wrote: the scheme-1 hash of its audio."""
    row = env.printed(track_id)
    bucket, _, key = row.source.partition("/")
    legacy = analyse(io.BytesIO(env.store.get_bytes(bucket, key)), legacy_hash=True).legacy_hash
    with transaction(env.factory) as session:
        session.execute(
            update(TrackPrint).where(TrackPrint.track_id == track_id).values(pcm_hash=legacy, hash_scheme=1)
        )


def fingerprint(env, track_id, data):
    env.validated(env.track_validated(track_id, env.upload(f"u/{track_id}", data)))
    (event,) = env.relay()
    return event.payload().duplicate


def test_the_migrations_keep_old_rows_as_scheme_1_and_pack_their_index_rows(url):
    migrate(url, MIGRATIONS, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fingerprints (id, track_id, producer_id, submission, source, pcm_sha256, duration_s, fingerprint, "
                "indexed, result, created_at) VALUES (:id, :t, 'p1', 0, 'b/k', :h, 60, :fp, true, '{}', :now)"
            ),
            [
                {"id": i, "t": f"old{i}", "h": "ab" * 32, "fp": b"\x01\x00\x00\x00", "now": datetime.now(UTC)}
                for i in (7, 8)
            ],
        )
        conn.execute(
            text("INSERT INTO fingerprint_index (print_id, key, position) VALUES (7, 42, 0), (7, 9, 5), (8, 42, 3)")
        )
    migrate(url, MIGRATIONS)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pcm_hash, hash_scheme FROM fingerprints")).all() == [("ab" * 32, 1)] * 2
        lists = {
            k: index.unpack(p).tolist() for k, p in conn.execute(text("SELECT key, postings FROM fingerprint_postings"))
        }
    assert lists == {9: [[7, 5]], 42: [[7, 0], [8, 3]]}  # the index rows, packed per key (0003)
    engine.dispose()


def test_old_rows_match_exactly_until_rehashed_and_then_the_old_hash_stops(url, settings, evalset):
    env = Env(settings, LocalStore(str(settings.var_dir / "objects")), url)
    try:
        fingerprint(env, "t1", evalset.originals["beat0"])
        fingerprint(env, "gone", evalset.originals["beat1"])
        make_legacy(env, "t1")
        make_legacy(env, "gone")
        env.store.delete(settings.uploads_bucket, "u/gone")
        with transaction(env.factory) as session:
            assert index.has_legacy_hashes(session)
        found = fingerprint(env, "t2", evalset.originals["beat0"])
        assert found.kind == "exact" and found.track_id == "t1"

        done = rehash(env.factory, env.store, batch=1)
        assert (done.upgraded, done.without_audio) == (1, 1)
        assert env.printed("t1").hash_scheme == 2 and env.printed("gone").hash_scheme == 0
        assert env.printed("t1").pcm_hash == env.printed("t2").pcm_hash
        with transaction(env.factory) as session:
            assert not index.has_legacy_hashes(session)
        assert rehash(env.factory, env.store) == type(done)()  # nothing left: a repeat changes nothing
        assert fingerprint(env, "t3", evalset.originals["beat0"]).kind == "exact"
        again = fingerprint(env, "t4", evalset.originals["beat1"])  # no exact hash left: found by its sound
        assert again.kind == "acoustic" and again.track_id == "gone" and again.decision == "duplicate"
    finally:
        env.close()
