"""The track.validated handler against a local store: outputs, idempotency, failures."""

from __future__ import annotations

import io

import numpy as np
import pytest

from beatpass_common.errors import Unreadable as UndecodableAudio
from beatpass_common.events import AudioFacts, CoverFacts, ObjectRef, TrackValidated, new_event, parse_event
from beatpass_common.isolation import Runner
from beatpass_common.storage import LocalStore
from beatpass_waveform.formats import read_dat, read_json
from beatpass_waveform.handlers import handle_track_validated
from beatpass_waveform.peaks import compute_peaks

INLINE = Runner(isolated=False)  # these tests are about the outputs, not the isolation


def validated(store, settings, wav: bytes, track_id: str = "trk-1"):
    key = f"producers/p-1/uploads/{track_id}"
    store.ensure_bucket(settings.uploads_bucket)
    put = store.put_bytes(settings.uploads_bucket, key, wav, "audio/wav")
    data = TrackValidated(
        source=ObjectRef(bucket=settings.uploads_bucket, key=key, size=put.size, sha256=put.sha256),
        audio=AudioFacts(format="WAV", sample_rate=44_100, bit_depth=16, channels=2, duration_s=1.0),
        cover=CoverFacts(format="PNG", width=1000, height=1000),
    )
    return new_event("track.validated", data, producer_id="p-1", track_id=track_id, collection_id="col-1")


@pytest.fixture
def store(settings):
    return LocalStore(settings.var_dir / "objects")


@pytest.fixture
def wav(make_wav):
    rng = np.random.default_rng(5)
    return make_wav((rng.standard_normal((44_100, 2)) * 6000).clip(-32768, 32767).astype(np.int16))


def test_writes_three_objects_and_publishes_waveform_generated(store, settings, wav):
    event = validated(store, settings, wav)
    published = []
    handle_track_validated(event, runner=INLINE, publish=published.append, settings=settings)

    [out] = published
    assert out.type == "waveform.generated"
    assert (out.producer_id, out.track_id, out.collection_id) == ("p-1", "trk-1", "col-1")
    data = parse_event(out.to_json()).payload()
    assert (data.samples_per_pixel, data.bits) == (256, 8)
    refs = {"json": data.json_ref, "dat": data.dat, "png": data.png}
    for ext, ref in refs.items():
        assert (ref.bucket, ref.key) == (settings.media_bucket, f"tracks/trk-1/waveform.{ext}")
        assert ref.size == store.stat(ref.bucket, ref.key).size
    expected = compute_peaks(io.BytesIO(wav)).to_bits(8)
    assert read_json(store.get_bytes(settings.media_bucket, data.json_ref.key)) == expected
    assert read_dat(store.get_bytes(settings.media_bucket, data.dat.key)) == expected
    assert store.get_bytes(settings.media_bucket, data.png.key)[:8] == b"\x89PNG\r\n\x1a\n"


def test_redelivery_gives_same_keys_bytes_and_event(store, settings, wav):
    event = validated(store, settings, wav)
    published = []
    handle_track_validated(event, runner=INLINE, publish=published.append, settings=settings)
    first = {ref.key: store.get_bytes(ref.bucket, ref.key) for ref in _refs(published[0])}
    handle_track_validated(event, runner=INLINE, publish=published.append, settings=settings)
    second = {ref.key: store.get_bytes(ref.bucket, ref.key) for ref in _refs(published[1])}

    assert first == second
    assert published[0].id == published[1].id
    assert published[0].data == published[1].data


def test_16_bit_on_request(store, settings, wav):
    settings = settings.model_copy(update={"waveform_bits": 16, "waveform_samples_per_pixel": 512})
    published = []
    handle_track_validated(validated(store, settings, wav), runner=INLINE, publish=published.append, settings=settings)
    data = published[0].payload()
    peaks = read_dat(store.get_bytes(settings.media_bucket, data.dat.key))
    assert (data.bits, peaks.bits, peaks.samples_per_pixel) == (16, 16, 512)
    assert peaks == compute_peaks(io.BytesIO(wav), samples_per_pixel=512)


def test_pixels_per_second_and_split_channels_on_request(store, settings, wav):
    settings = settings.model_copy(update={"waveform_pixels_per_second": 100, "waveform_split_channels": True})
    published = []
    handle_track_validated(validated(store, settings, wav), runner=INLINE, publish=published.append, settings=settings)
    data = published[0].payload()
    peaks = read_json(store.get_bytes(settings.media_bucket, data.json_ref.key))
    assert (data.samples_per_pixel, peaks.channels, peaks.length) == (441, 2, 100)


def test_undecodable_audio_raises_and_publishes_nothing(store, settings):
    published = []
    with pytest.raises(UndecodableAudio):
        handle_track_validated(
            validated(store, settings, b"RIFF\x00\x00\x00\x00WAVEjunk"),
            runner=INLINE,
            publish=published.append,
            settings=settings,
        )
    assert published == []
    assert not store.exists(settings.media_bucket, "tracks/trk-1/waveform.json")


def _refs(event):
    data = event.payload()
    return [data.json_ref, data.dat, data.png]
