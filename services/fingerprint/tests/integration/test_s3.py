import pytest
from fingerprint_env import Env

from beatpass_common.storage import open_store


def fingerprint(env, track_id, data):
    env.validated(env.track_validated(track_id, env.upload(f"u/{track_id}", data)))
    (event,) = env.relay()
    return event.payload()


@pytest.mark.integration
def test_reads_audio_from_s3(s3_settings, postgres_url, evalset):
    env = Env(s3_settings, open_store(s3_settings.storage_url, s3_settings.storage_region), postgres_url)
    try:
        assert fingerprint(env, "s1", evalset.originals["beat0"]).duplicate is None
        excerpt = next(d for n, o, d in evalset.positives if n == "excerpt_45s" and o == "beat0")
        found = fingerprint(env, "s2", excerpt).duplicate
        assert found.track_id == "s1" and found.decision == "duplicate"
        assert found.offset_s == pytest.approx(10.0, abs=0.2) and found.matched_coverage == pytest.approx(
            0.74, abs=0.03
        )
    finally:
        env.close()
