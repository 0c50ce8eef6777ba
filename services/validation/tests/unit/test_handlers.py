import io
import os
import time

import numpy as np
import pytest
import soundfile as sf

from beatpass_common.errors import MemoryLimitExceeded, TimeLimitExceeded, WorkerDied
from beatpass_common.events import Event, parse_event
from beatpass_common.isolation import Runner
from beatpass_common.testing.signals import time_limit
from beatpass_validation.handlers import handle_track_submitted
from beatpass_validation.service import PRELOAD

INLINE = Runner(isolated=False)  # the checks in this process: these tests are not about isolation


@pytest.fixture
def good(gen):
    return gen.wav(gen.music(11.0), bits=24), gen.image((1200, 1200), "RGB", "JPEG")


@pytest.fixture
def run(store, settings):
    def handle(event, **overrides) -> Event:
        out: list[Event] = []
        handle_track_submitted(event, publish=out.append, settings=settings.model_copy(update=overrides), runner=INLINE)
        assert len(out) == 1
        return parse_event(out[0].to_json())  # what consumers will see

    return handle


def test_valid_track(run, gen, store, settings, good):
    event = gen.submitted(store, settings, *good)
    out = run(event)
    assert out.type == "track.validated"
    assert (out.producer_id, out.track_id, out.collection_id) == ("p1", "t1", None)
    data = out.payload()
    assert data.source == event.payload().audio
    assert (data.audio.format, data.audio.bit_depth, data.audio.duration_s) == ("WAV PCM", 24, 11.0)
    assert (data.cover.format, data.cover.width) == ("JPEG", 1200)
    assert data.warnings == []
    assert {k: v.key for k, v in data.cover_images.items()} == {
        "large": "tracks/t1/cover-1000.jpg",
        "thumb": "tracks/t1/cover-300.jpg",
    }
    for ref in data.cover_images.values():
        assert ref.bucket == settings.media_bucket and ref.content_type == "image/jpeg"
        assert store.stat(ref.bucket, ref.key).size == ref.size


def test_redelivery_gives_the_same_event_and_objects(run, gen, store, settings, good):
    event = gen.submitted(store, settings, *good)
    first, second = run(event), run(event)
    assert first.id == second.id
    assert first.data == second.data  # same facts, same derivative hashes


def test_audio_and_cover_problems_are_reported_together(run, gen, store, settings, encoded):
    out = run(gen.submitted(store, settings, encoded("mp3"), gen.image((1600, 1200))))
    assert out.type == "track.rejected"
    errors = out.payload().errors
    assert [(e.code, e.field) for e in errors] == [("AUDIO_NOT_WAV", "audio"), ("COVER_NOT_SQUARE", "cover")]
    assert errors[0].message == "This file is MP3 audio, not WAV. BeatPass accepts WAV audio only."
    assert out.payload().step == "validation"
    assert not store.exists(settings.media_bucket, "tracks/t1/cover-1000.jpg")  # nothing derived for a rejection


def test_missing_uploads_are_a_rejection(run, gen, store, settings):
    out = run(gen.submitted(store, settings, None, None))
    assert [e.code for e in out.payload().errors] == ["AUDIO_MISSING", "COVER_MISSING"]


@pytest.mark.parametrize("declared, warned", [(120, False), (60, False), (90, True)])
def test_declared_bpm_far_from_the_estimate_is_only_a_warning(run, gen, store, settings, good, declared, warned):
    out = run(gen.submitted(store, settings, *good, bpm=declared))
    assert out.type == "track.validated"
    assert [w.code for w in out.payload().warnings] == (["BPM_MISMATCH"] if warned else [])


def test_no_warning_when_the_tempo_is_unclear(run, gen, store, settings):
    noise = np.random.default_rng(2).uniform(-0.3, 0.3, (44100 * 11, 2))
    out = run(gen.submitted(store, settings, gen.wav(noise), gen.image(), bpm=90))
    assert out.type == "track.validated" and out.payload().warnings == []


def test_replaced_track_and_collection_are_carried(store, settings, gen, good):
    event = gen.submitted(store, settings, *good)
    event = event.model_copy(update={"collection_id": "c9", "data": {**event.data, "replaces_track_id": "old1"}})
    out: list[Event] = []
    handle_track_submitted(event, publish=out.append, settings=settings, runner=INLINE)
    assert out[0].collection_id == "c9" and out[0].payload().replaces_track_id == "old1"


def test_storage_faults_raise_for_the_bus_to_retry(gen, store, settings, good, monkeypatch):
    event = gen.submitted(store, settings, *good)

    class Flaky:
        def __getattr__(self, name):
            return getattr(store, name)

        def get_bytes(self, *args, **kwargs):
            raise ConnectionError("storage unreachable")

    monkeypatch.setattr("beatpass_validation.work.child_store", lambda _settings: Flaky())
    published: list[Event] = []
    with pytest.raises(ConnectionError):
        handle_track_submitted(event, publish=published.append, settings=settings, runner=INLINE)
    assert published == []


@pytest.mark.parametrize(
    "size, outcome", [((1400, 1400), "collection.validated"), ((1400, 900), "collection.rejected")]
)
def test_album_art_is_checked_like_a_track_cover(gen, store, settings, size, outcome):
    from beatpass_common.events import new_event
    from beatpass_validation.handlers import handle_collection_submitted

    ref = gen.put(store, settings, "producers/p1/uploads/album", gen.image(size, "RGB", "PNG"))
    event = new_event(
        "collection.submitted",
        {"title": "Tape", "cover": ref.model_dump(mode="json"), "track_ids": ["t1"]},
        producer_id="p1",
        collection_id="c1",
    )
    out: list[Event] = []
    handle_collection_submitted(event, publish=out.append, settings=settings, runner=INLINE)
    handle_collection_submitted(event, publish=out.append, settings=settings, runner=INLINE)
    assert [e.type for e in out] == [outcome, outcome] and out[0].id == out[1].id
    if outcome == "collection.validated":
        images = out[0].payload().cover_images
        assert images["large"].key == "collections/c1/cover-1000.jpg"
        assert store.get_bytes(settings.media_bucket, images["thumb"].key).startswith(b"\xff\xd8")
    else:
        assert out[0].payload().errors[0].field == "cover"


def test_a_changed_album_cover_is_checked_under_keys_of_its_edit_and_other_edits_need_nothing(gen, store, settings):
    from beatpass_common.events import new_event
    from beatpass_validation.handlers import handle_collection_submitted

    good = gen.put(store, settings, "producers/p1/uploads/album2", gen.image((1400, 1400), "RGB", "PNG"))
    bad = gen.put(store, settings, "producers/p1/uploads/album3", gen.image((1400, 700), "RGB", "PNG"))
    out: list[Event] = []
    for edit, data in (
        (2, {"cover": good.model_dump(mode="json")}),
        (3, {"cover": bad.model_dump(mode="json")}),
        (4, {"title": "Tape II", "track_ids": ["t2", "t1"]}),
    ):
        event = new_event(
            "collection.edited", {"edit": edit, **data}, producer_id="p1", collection_id="c1", attempt=edit
        )
        handle_collection_submitted(parse_event(event.to_json()), publish=out.append, settings=settings, runner=INLINE)
    assert [(e.type, e.attempt, e.collection_id) for e in out] == [
        ("collection.validated", 2, "c1"),
        ("collection.rejected", 3, "c1"),
    ]
    images = out[0].payload().cover_images
    assert images["large"].key == "collections/c1/cover-1000-r2.jpg"
    assert store.get_bytes(settings.media_bucket, images["thumb"].key).startswith(b"\xff\xd8")
    assert out[1].payload().errors[0].field == "cover"


# --- hard limits: the checks in a supervised child, driven by the test fault ------------------


@pytest.fixture
def faulty(settings):
    """A real supervised runner and settings whose test fault targets one audio's upload id."""
    made = []

    def make(point: str, action: str, audio_key: str, **limits):
        s = settings.model_copy(update={"test_fault": f"{point}:{action}:{audio_key.rsplit('/', 1)[-1]}", **limits})
        runner = Runner.from_settings(s, preload=PRELOAD)  # as the service builds it
        runner.call(os.getpid)  # the child is up and warm: the limits below time the work alone
        made.append(runner)
        return s, runner

    yield make
    for runner in made:
        runner.close()


def test_an_estimate_that_hangs_is_skipped_with_a_warning(gen, store, settings, good, faulty):
    event = gen.submitted(store, settings, *good)
    s, runner = faulty("validation.estimate", "hang", event.payload().audio.key, estimate_time_limit_s=2.0)
    out: list[Event] = []
    started = time.monotonic()
    handle_track_submitted(event, publish=out.append, settings=s, runner=runner)
    assert time.monotonic() - started < 2.0 + 15  # the required part (decode) plus the estimate's 2 s
    (validated,) = out
    data = validated.payload()
    assert validated.type == "track.validated"
    assert data.audio.estimated_bpm is None and data.audio.estimated_key is None
    assert data.audio.loudness_lufs is not None  # the required facts are all there
    assert [(w.code, w.field, w.message) for w in data.warnings] == [
        (
            "ESTIMATE_SKIPPED",
            "bpm",
            "We could not estimate the BPM and key of this file in time; check them before publishing.",
        )
    ]


def test_a_required_part_that_hangs_raises_time_limit_exceeded(gen, store, settings, good, faulty):
    event = gen.submitted(store, settings, *good)
    s, runner = faulty("validation.audio", "hang", event.payload().audio.key, handler_time_limit_s=2.0)
    out: list[Event] = []
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        handle_track_submitted(event, publish=out.append, settings=s, runner=runner)
    assert 2.0 <= time.monotonic() - started < 2.0 + 1.5
    assert out == []
    other = gen.submitted(store, settings, *good, track_id="t2")  # same audio under another upload id
    clean = s.model_copy(update={"test_fault": ""})
    handle_track_submitted(other, publish=out.append, settings=clean, runner=runner)  # the next call works
    assert [e.type for e in out] == ["track.validated"]


def test_a_cover_that_takes_past_its_budget_is_refused_as_the_producers_fault(gen, store, settings, good, faulty):
    """The hard limit is the backstop: a cover still decoding after cover_time_limit_s is rejected
    at once (a scan bomb ended `failed` after two hard time limits)."""
    event = gen.submitted(store, settings, *good)
    s, runner = faulty("validation.cover", "hang", event.payload().audio.key, cover_time_limit_s=2.0)
    out: list[Event] = []
    started = time.monotonic()
    handle_track_submitted(event, publish=out.append, settings=s, runner=runner)
    assert time.monotonic() - started < 2.0 + 15  # the audio part plus the cover's 2 s
    (rejected,) = out
    assert rejected.type == "track.rejected"
    assert [(p.code, p.field, p.message) for p in rejected.payload().errors] == [
        (
            "COVER_TOO_COMPLEX",
            "cover",
            "This image took longer than 2 seconds to read, far longer than cover art takes. "
            "Save it again as a standard JPEG or PNG.",
        )
    ]
    other = gen.submitted(store, settings, *good, track_id="t2")
    handle_track_submitted(other, publish=out.append, settings=s, runner=runner)  # the next call works
    assert [e.type for e in out] == ["track.rejected", "track.validated"]


def test_a_required_part_that_allocates_without_bound_is_stopped(gen, store, settings, good, faulty):
    event = gen.submitted(store, settings, *good)
    s, runner = faulty("validation.audio", "alloc", event.payload().audio.key, handler_memory_limit_bytes=2 * 1024**3)
    out: list[Event] = []
    with pytest.raises((MemoryLimitExceeded, WorkerDied)) as caught:
        handle_track_submitted(event, publish=out.append, settings=s, runner=runner)
    assert caught.value.reason == "memory" and out == []


def test_brown_noise_that_hung_the_tempo_folding_is_validated(run, gen, store, settings):
    """The case in shared/cases/brown_noise_48k_mono.py, written the same way: its tempogram put
    the parabolic vertex at a negative lag and the octave folding looped for ever."""
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.standard_normal((44100 * 25 + 137, 2)), axis=0)
    walk = 0.9 * walk / np.max(np.abs(walk))
    buf = io.BytesIO()
    sf.write(buf, walk[:, 0], 48000, subtype="PCM_16", format="WAV")
    with time_limit(60):
        out = run(gen.submitted(store, settings, buf.getvalue(), gen.image((1200, 1200), "RGB", "JPEG")))
    assert out.type == "track.validated"
    audio = out.payload().audio
    assert (audio.sample_rate, audio.channels, audio.bit_depth) == (48000, 1, 16)
    assert audio.estimated_bpm is None or settings.bpm_min <= audio.estimated_bpm <= settings.bpm_max
