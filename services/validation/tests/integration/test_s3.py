"""The handler against a real S3 endpoint (moto's server unless MinIO is configured): audio is
streamed by ranged reads from the uploads bucket, derivatives land in the media bucket."""

from __future__ import annotations

import pytest

from beatpass_common.isolation import Runner
from beatpass_common.storage import open_store, sha256_of
from beatpass_validation.handlers import handle_track_submitted
from beatpass_validation.service import build

pytestmark = pytest.mark.integration


@pytest.fixture
def runner(s3_settings):
    """The real thing: a spawned child that opens S3 from the settings it is given."""
    isolated = Runner.from_settings(s3_settings)
    yield isolated
    isolated.close()


@pytest.fixture
def s3(s3_settings):
    store = open_store(s3_settings.resolved_storage_url(), s3_settings.storage_region)
    store.ensure_bucket(s3_settings.uploads_bucket)
    assert build(s3_settings).name == "validation"  # its own store; creates the media bucket
    return store


@pytest.fixture
def handle(runner):
    def run(event, store, settings):
        out = []
        handle_track_submitted(event, publish=out.append, settings=settings, runner=runner)
        return out[0]

    return run


def test_rf64_with_metadata_validates_through_s3(s3, s3_settings, gen, handle):
    audio = gen.wav(
        gen.music(10.5),
        bits=24,
        rf64=True,
        before=[gen.chunk(b"JUNK", b"j" * 70_000)],
        after=[gen.chunk(b"LIST", b"INFO")],
    )
    event = gen.submitted(s3, s3_settings, audio, gen.image((1100, 1100), "CMYK", "JPEG"), track_id="s3-ok")
    first, second = handle(event, s3, s3_settings), handle(event, s3, s3_settings)
    assert first.type == "track.validated" and first.id == second.id and first.data == second.data
    data = first.payload()
    assert (data.audio.format, data.audio.bit_depth, data.audio.duration_s) == ("RF64 PCM", 24, 10.5)
    assert data.cover.mode == "CMYK"
    for ref in data.cover_images.values():
        assert ref.bucket == s3_settings.media_bucket
        assert sha256_of(s3, ref.bucket, ref.key) == ref.sha256


def test_rejections_through_s3(s3, s3_settings, gen, encoded, handle):
    full = gen.wav(gen.music(11.0))
    truncated = handle(
        gen.submitted(s3, s3_settings, full[: len(full) // 3], gen.image(), track_id="s3-cut"), s3, s3_settings
    )
    assert [e.code for e in truncated.payload().errors] == ["AUDIO_TRUNCATED"]
    disguised = handle(gen.submitted(s3, s3_settings, encoded("flac"), None, track_id="s3-flac"), s3, s3_settings)
    assert [e.code for e in disguised.payload().errors] == ["AUDIO_NOT_WAV", "COVER_MISSING"]
    assert disguised.payload().errors[0].message.startswith("This file is FLAC audio, not WAV.")
