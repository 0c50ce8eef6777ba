"""The handler against a real S3 endpoint (moto's server unless MinIO is configured): the audio is
streamed from the uploads bucket and the three files land in the media bucket, twice identically."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from beatpass_common.events import AudioFacts, CoverFacts, ObjectRef, TrackValidated, new_event
from beatpass_common.isolation import Runner
from beatpass_common.storage import open_store, sha256_of
from beatpass_waveform.formats import read_dat, read_json
from beatpass_waveform.handlers import handle_track_validated
from beatpass_waveform.peaks import compute_peaks
from beatpass_waveform.service import build

pytestmark = pytest.mark.integration


def test_waveform_through_s3(s3_settings):
    settings = s3_settings
    store = open_store(settings.resolved_storage_url(), settings.storage_region)
    store.ensure_bucket(settings.uploads_bucket)
    assert build(settings).name == "waveform"  # the service's own store, which creates the media bucket

    rng = np.random.default_rng(11)
    wav = io.BytesIO()
    soundfile.write(wav, rng.uniform(-0.8, 0.8, (3 * 48_000, 2)), 48_000, subtype="PCM_24", format="WAV")
    audio = wav.getvalue()
    key = "producers/p-s3/uploads/u-1"
    put = store.put_bytes(settings.uploads_bucket, key, audio, "audio/wav")
    data = TrackValidated(
        source=ObjectRef(bucket=settings.uploads_bucket, key=key, size=put.size, sha256=put.sha256),
        audio=AudioFacts(format="WAV", sample_rate=48_000, bit_depth=24, channels=2, duration_s=3),
        cover=CoverFacts(format="JPEG", width=1200, height=1200),
    )
    event = new_event("track.validated", data, producer_id="p-s3", track_id="trk-s3")

    published = []
    runner = Runner.from_settings(settings)  # a spawned child that opens S3 from the settings it is given
    try:
        handle_track_validated(event, runner=runner, publish=published.append, settings=settings)
        handle_track_validated(event, runner=runner, publish=published.append, settings=settings)
    finally:
        runner.close()

    first, second = (e.payload() for e in published)
    assert published[0].id == published[1].id and first == second
    for ref in (first.json_ref, first.dat, first.png):
        assert ref.bucket == settings.media_bucket and ref.key.startswith("tracks/trk-s3/waveform.")
        assert sha256_of(store, ref.bucket, ref.key) == ref.sha256
        assert store.stat(ref.bucket, ref.key).content_type == ref.content_type
    expected = compute_peaks(io.BytesIO(audio)).to_bits(8)
    assert read_json(store.get_bytes(settings.media_bucket, first.json_ref.key)) == expected
    assert read_dat(store.get_bytes(settings.media_bucket, first.dat.key)) == expected
