"""Per-content locks on real PostgreSQL (index.lock_content): copies submitted at the same moment
never both pass, through the real handler, round after round; a copy waits for the transaction
holding its content and then sees it, while an unrelated track goes ahead meanwhile."""

import io
import threading
import time

import pytest
from fingerprint_env import Env
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from beatpass_common.storage import LocalStore
from beatpass_fingerprint import index
from beatpass_fingerprint.chroma import analyse

pytestmark = pytest.mark.integration
LIMIT_S = 60


@pytest.fixture
def env(settings, postgres_url):
    env = Env(settings, LocalStore(str(settings.var_dir / "objects")), postgres_url)
    yield env
    env.close()


def variant(evalset, name, original):
    return next(d for n, o, d in evalset.positives if n == name and o == original)


def race(env, uploads: dict[str, bytes]) -> dict:
    """Run the handler for every upload at once (one thread each, released together)."""
    events = [env.track_validated(track_id, env.upload(f"u/{track_id}", data)) for track_id, data in uploads.items()]
    start, errors = threading.Barrier(len(events)), []

    def run(event):
        try:
            start.wait(LIMIT_S)
            env.validated(event)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LIMIT_S)
    assert not errors and not any(t.is_alive() for t in threads)
    return {e.track_id: e.payload().duplicate for e in env.relay()}


@pytest.mark.parametrize("lock_keys", [512, 24])  # all of a 60 s track's keys; a sample of them
def test_copies_submitted_at_once_never_both_pass(env, evalset, lock_keys):
    env.settings.fingerprint_lock_keys = lock_keys
    rounds = 0
    for original in sorted(evalset.originals):
        data = evalset.originals[original]
        for others in (["pcm24_reencode", "mp3_128k"], ["noise_30db_snr", "gain_-6db"], ["trim_first_7s"]):
            rounds += 1
            uploads = {f"r{rounds}-orig": data} | {f"r{rounds}-{n}": variant(evalset, n, original) for n in others}
            results = race(env, uploads)
            assert set(results) == set(uploads)
            passed = [t for t, dup in results.items() if dup is None or dup.decision != "duplicate"]
            assert len(passed) == 1, (rounds, results)
            assert all(dup.track_id in uploads for dup in results.values() if dup is not None)
            for track_id in uploads:  # out of the index again: the next round starts from nothing
                env.removed(env.track_removed(track_id))
    assert rounds == 3 * len(evalset.originals)


def waiting_for_advisory_locks(env) -> int:
    with env.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()


def test_a_copy_waits_for_its_content_while_an_unrelated_track_goes_ahead(env, evalset):
    held = analyse(io.BytesIO(evalset.originals["beat0"]))
    conn = env.engine.connect()
    holder = Session(bind=conn)
    holder.begin()
    index.lock_content(holder, "first", held.fingerprint, (held.pcm_hash,))
    index.add(holder, track_id="first", producer_id="p1", source="u/first", audio=held, indexed=True, result={})
    done: dict[str, object] = {}

    def run(track_id, data):
        env.validated(env.track_validated(track_id, env.upload(f"u/{track_id}", data)))
        done[track_id] = True

    try:
        other = threading.Thread(target=run, args=("other", evalset.originals["beat1"]))
        other.start()
        other.join(LIMIT_S)
        assert done == {"other": True}  # finished while "first" is held
        copy = threading.Thread(target=run, args=("copy", variant(evalset, "mp3_128k", "beat0")))
        copy.start()
        deadline = time.monotonic() + LIMIT_S
        while waiting_for_advisory_locks(env) == 0:
            assert time.monotonic() < deadline and copy.is_alive(), "the copy never waited for the held content"
            time.sleep(0.02)
        assert "copy" not in done
        holder.commit()
        copy.join(LIMIT_S)
        assert done == {"other": True, "copy": True}
    finally:
        holder.close()
        conn.close()
    results = {e.track_id: e.payload().duplicate for e in env.relay()}
    assert results["other"] is None
    assert results["copy"].track_id == "first" and results["copy"].decision == "duplicate"


def test_waiting_for_content_past_the_lock_timeout_fails_the_message(env, evalset):
    env.settings.fingerprint_lock_timeout_s = 0.5
    held = analyse(io.BytesIO(evalset.originals["beat2"]))
    with env.engine.connect() as conn, Session(bind=conn) as holder:
        holder.begin()
        index.lock_content(holder, "holder", held.fingerprint, (held.pcm_hash,))
        started = time.monotonic()
        with pytest.raises(OperationalError, match="lock timeout"):
            env.validated(env.track_validated("copy", env.upload("u/copy", evalset.originals["beat2"])))
        assert time.monotonic() - started < LIMIT_S
        holder.rollback()
    assert env.printed("copy") is None and env.relay() == []  # nothing half-done: the bus retries it
