"""Whatever validation accepts, every later reader decodes to exactly the samples libsndfile
(soundfile) decodes, and the track reaches ``ready``; the gateway's inspection at upload
completion gives the duration validation reports, and refuses only what validation refuses, with
the same codes and sentences (the header-level part of validation's list).

WAV files generated from their parts (beatpass_common.testing.wavgen, odd and broken layouts
included) go through the handlers of validation, waveform, fingerprint and catalog in this
process (``Runner(isolated=False)``), on a local object store and SQLite. Lengths are far below
the 10 s the rules ask for, so ``audio_min_s`` is lowered (and the cover's minimum size: its
checks are not what this is about, and would cost most of the time). Examples per run:
BEATPASS_PIPELINE_EXAMPLES (``make fuzz-wav`` raises it).
"""

from __future__ import annotations

import io
import math
import os
import uuid
from dataclasses import dataclass, field

import blake3
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from beatpass_catalog.handlers import handle as catalog_handle
from beatpass_catalog.models import Track
from beatpass_catalog.service import build_deps
from beatpass_common.db import make_engine, migrate, session_factory, transaction
from beatpass_common.events import Event, ObjectRef, TrackMetadata, TrackRemoved, TrackSubmitted, new_event
from beatpass_common.isolation import Runner
from beatpass_common.outbox import Outbox
from beatpass_common.storage import LocalStore
from beatpass_common.testing.media import cover_bytes, odd_pcm_layouts
from beatpass_common.testing.wavgen import WavParts, wav_parts
from beatpass_fingerprint import handlers as fingerprint
from beatpass_fingerprint.metrics import FingerprintMetrics
from beatpass_fingerprint.models import OutboxEvent, TrackPrint
from beatpass_fingerprint.service import MIGRATIONS
from beatpass_upload.inspection import inspect
from beatpass_upload.models import Upload
from beatpass_validation.handlers import handle_track_submitted
from beatpass_waveform import handlers as waveform
from beatpass_waveform.formats import read_json
from beatpass_waveform.options import WaveformOptions
from beatpass_waveform.peaks import PeakBuilder

EXAMPLES = int(os.environ.get("BEATPASS_PIPELINE_EXAMPLES", "150"))
MAX_FRAMES = 12_000  # up to 0.27 s at 44.1 kHz: 150 examples through every handler in about 30 s
INLINE = Runner(isolated=False)
METADATA = TrackMetadata(title="Generated", artists=["Kai"], bpm=120, key="A", scale="minor", licensing="non_exclusive")
# What only decoding the samples finds: validation's, after Save.
DECODED = {"AUDIO_TRUNCATED", "AUDIO_CORRUPT", "AUDIO_FLOAT_OUT_OF_RANGE", "AUDIO_SILENT"}


def inspected(pipeline, audio: ObjectRef) -> dict:
    """The gateway's inspection of the upload (as when its last PATCH completed it)."""
    upload = Upload(id="u", bucket=audio.bucket, key=audio.key, length=audio.size, meta={"kind": "audio"})
    return inspect(pipeline.store, upload, pipeline.settings)


@dataclass
class Pipeline:
    """The four consumers of a track's events over one store, each with its own database."""

    settings: object
    store: LocalStore
    cover: ObjectRef
    outcomes: list[str] = field(default_factory=list)  # the first rejection code, or the accepted format

    def __post_init__(self):
        url = self.settings.database_url("fingerprint")
        migrate(url, MIGRATIONS)
        self.fingerprint_db = session_factory(make_engine(url))
        self.fingerprint_out: list[Event] = []
        self.fingerprint_outbox = Outbox(OutboxEvent, self.fingerprint_db, self.fingerprint_out.append)
        self.catalog_out: list[Event] = []
        self.catalog = build_deps(self.settings, self.catalog_out.append)

    def put(self, key: str, data: bytes) -> ObjectRef:
        put = self.store.put_bytes(self.settings.uploads_bucket, key, data)
        return ObjectRef(bucket=self.settings.uploads_bucket, key=key, size=put.size, sha256=put.sha256)

    def validate(self, track_id: str, audio: ObjectRef) -> tuple[Event, Event]:
        submitted = new_event(
            "track.submitted",
            TrackSubmitted(audio=audio, cover=self.cover, metadata=METADATA),
            producer_id="p1",
            track_id=track_id,
        )
        out: list[Event] = []
        handle_track_submitted(submitted, publish=out.append, settings=self.settings, runner=INLINE)
        [result] = out
        return submitted, result

    def draw_waveform(self, validated: Event) -> Event:
        out: list[Event] = []
        waveform.handle_track_validated(validated, publish=out.append, settings=self.settings, runner=INLINE)
        [generated] = out
        return generated

    def print_audio(self, validated: Event) -> tuple[Event, str]:
        """fingerprint.completed and the PCM hash the fingerprint stored; the index is left empty
        again, so a repeated example is not a duplicate of itself."""
        self.fingerprint_out.clear()
        fingerprint.handle_track_validated(
            validated,
            runner=INLINE,
            session_factory=self.fingerprint_db,
            outbox=self.fingerprint_outbox,
            settings=self.settings,
            metrics=FingerprintMetrics(),
        )
        self.fingerprint_outbox.relay_once()
        [completed] = self.fingerprint_out
        with transaction(self.fingerprint_db) as session:
            sha = session.query(TrackPrint).filter_by(track_id=validated.track_id).one().pcm_hash
        removed = new_event(
            "track.removed", TrackRemoved(reason="rejected"), producer_id="p1", track_id=validated.track_id
        )
        fingerprint.handle_track_removed(removed, session_factory=self.fingerprint_db, settings=self.settings)
        return completed, sha

    def status(self, *events: Event) -> str:
        for event in events:
            catalog_handle(event, deps=self.catalog)
        self.catalog.outbox.relay_once()
        with self.catalog.factory() as session:
            return session.get(Track, events[0].track_id).status


@pytest.fixture
def pipeline(settings):
    s = settings.model_copy(update={"audio_min_s": 0.001, "cover_min_px": 16})
    store = LocalStore(s.var_dir / "objects")
    store.ensure_bucket(s.uploads_bucket)
    store.ensure_bucket(s.media_bucket)
    cover = store.put_bytes(s.uploads_bucket, "cover.jpg", cover_bytes(64))
    ref = ObjectRef(bucket=s.uploads_bucket, key="cover.jpg", size=cover.size, sha256=cover.sha256)
    return Pipeline(s, store, ref)


def soundfile_reads(data: bytes, dtype: str) -> np.ndarray:
    if data[:4] == b"BW64":  # byte-identical to RF64 in every part read here; libsndfile 1.2.2 knows only RF64
        data = b"RF64" + data[4:]
    return sf.read(io.BytesIO(data), dtype=dtype, always_2d=True)[0]


def as_audiowaveform_reads(data: bytes, is_float: bool) -> np.ndarray:
    """int16 frames as BBC audiowaveform reads them through libsndfile: the top 16 bits of an
    integer sample, a float one times 32767 truncated."""
    if is_float:  # a streaming header reads chunks after the data as samples too: far beyond full scale
        with np.errstate(over="ignore"):
            scaled = np.trunc(soundfile_reads(data, "float32") * np.float32(32767))
        return np.clip(scaled, -32768, 32767).astype(np.int16)
    return (soundfile_reads(data, "int32") >> 16).astype(np.int16)


def check_facts(facts, data: bytes) -> None:
    """Validation's duration, peak and clipping are those of soundfile's samples."""
    is_float = facts.format.endswith("float")
    samples = soundfile_reads(data, "float32" if is_float else "int32")
    assert facts.duration_s == round(len(samples) / facts.sample_rate, 6)
    if is_float:
        peak, clipped = float(np.abs(samples).max()), np.count_nonzero(np.abs(samples) >= 1.0)
    else:
        native = samples >> (32 - facts.bit_depth)  # libsndfile left-justifies into int32
        full = 2 ** (facts.bit_depth - 1)
        peak = max(int(native.max()), -int(native.min())) / full
        clipped = np.count_nonzero((native >= full - 1) | (native <= -full))
    assert facts.peak_dbfs == round(20 * math.log10(peak), 2)
    assert facts.clipped_ratio == clipped / samples.size


def pcm_hash(data: bytes, rate: int) -> str:
    """The exact hash as docs/fingerprint-matching.md defines it, from libsndfile's decode: the
    narrowest of 16, 24, 32-bit integers that holds every sample exactly, else float32."""
    values = soundfile_reads(data, "float64")  # exact for PCM up to 32 bits and for float32
    for bits in (16, 24, 32):
        ints = values * 2.0 ** (bits - 1)
        if np.all(np.rint(ints) == ints) and np.all(np.abs(ints + 0.5) <= 2.0 ** (bits - 1)):
            form, packed = f"i{bits}", ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, : bits // 8].tobytes()
            break
    else:
        form, packed = "f32", soundfile_reads(data, "float32").tobytes()
    return blake3.blake3(f"beatpass-pcm-2:{form}:{rate}:{values.shape[1]}:".encode() + packed).hexdigest()


def test_what_validation_accepts_every_service_reads_as_libsndfile_does_and_it_becomes_ready(pipeline):
    options = WaveformOptions.from_settings(pipeline.settings)

    @hsettings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(wav_parts(MAX_FRAMES, noise=True, min_frames=1, mostly_valid=True).map(WavParts.to_bytes))
    def accepted_audio_goes_through(data):
        track_id = str(uuid.uuid4())
        audio = pipeline.put(f"producers/p1/uploads/{track_id}", data)
        submitted, result = pipeline.validate(track_id, audio)
        looked = inspected(pipeline, audio)
        if result.type == "track.rejected":
            errors = [e.model_dump(mode="json") for e in result.payload().errors if e.field == "audio"]
            pipeline.outcomes.append(errors[0]["code"])
            # The gateway shows at once what validation refuses from the header, word for word;
            # what it leaves to validation is what only decoding finds.
            assert errors[: len(looked["problems"])] == looked["problems"]
            assert {e["code"] for e in errors[len(looked["problems"]) :]} <= DECODED
            return
        facts = result.payload().audio
        pipeline.outcomes.append(facts.format)
        assert looked["problems"] == []
        # upload minutes are reserved against this
        assert looked["facts"]["duration_s"] == pytest.approx(facts.duration_s, abs=1e-6)
        check_facts(facts, data)

        generated = pipeline.draw_waveform(result)
        peaks = read_json(pipeline.store.get_bytes(pipeline.settings.media_bucket, generated.payload().json_ref.key))
        builder = PeakBuilder(
            facts.sample_rate,
            facts.channels,
            generated.payload().samples_per_pixel,
            split_channels=options.split_channels,
        )
        builder.add(as_audiowaveform_reads(data, facts.format.endswith("float")))
        assert peaks == builder.finish().to_bits(options.bits)

        completed, sha = pipeline.print_audio(result)
        assert completed.payload().duplicate is None
        assert completed.payload().duration_s == round(facts.duration_s, 3)
        assert sha == pcm_hash(data, facts.sample_rate)

        assert pipeline.status(submitted, result, generated, completed) == "ready"

    accepted_audio_goes_through()
    # The property is only as good as the files that pass: enough of them, of both encodings and containers.
    accepted = [o for o in pipeline.outcomes if not o.startswith("AUDIO_")]
    assert len(accepted) >= EXAMPLES // 5, pipeline.outcomes
    assert {o.split()[1] for o in accepted} == {"PCM", "float"}, accepted
    assert {o.split()[0] for o in accepted} > {"WAV"}, accepted


@pytest.mark.parametrize("name, duration_s", [("pcm20_in_3_bytes.wav", 12.0), ("pcm24_in_8_byte_frames.wav", None)])
def test_the_gateway_reserves_the_length_validation_measures_for_the_odd_pcm_layouts(pipeline, name, duration_s):
    """The shared case's files: 12 s of 20-bit samples in 3-byte containers, and of 24-bit ones
    in 8-byte stereo frames, which the gateway once reserved as 16 s (6-byte frames counted)."""
    audio = pipeline.put(name, odd_pcm_layouts()[name])
    _, result = pipeline.validate(str(uuid.uuid4()), audio)
    looked = inspected(pipeline, audio)
    if duration_s is None:  # refused at once, with validation's sentence: nothing is reserved
        assert [e.model_dump(mode="json") for e in result.payload().errors] == looked["problems"]
        assert [p["code"] for p in looked["problems"]] == ["AUDIO_LAYOUT"]
    else:
        assert result.payload().audio.duration_s == duration_s == looked["facts"]["duration_s"]
