"""The parts of a validation that run in the supervised child process (beatpass_common.isolation).

Plain picklable arguments in (settings, object references), a picklable result out; objects are
read and written through the child's own store, opened from settings once per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from beatpass_common import faults
from beatpass_common.config import Settings
from beatpass_common.events import AudioFacts, CoverFacts, ObjectRef, Problem
from beatpass_common.isolation import child_store
from beatpass_common.storage import ObjectStore

from .audio import check_audio, estimated
from .cover import CoverResult, check_cover, derivative_keys
from .musical import Excerpt


@dataclass
class Checked:
    """Every problem found, or the facts, the stored cover derivatives and the estimate's excerpts."""

    problems: list[Problem] = field(default_factory=list)
    audio: AudioFacts | None = None
    cover: CoverFacts | None = None
    images: dict[str, ObjectRef] = field(default_factory=dict)
    excerpts: list[Excerpt] = field(default_factory=list)


def check_track(settings: Settings, audio: ObjectRef, cover: ObjectRef, owner_id: str) -> Checked:
    """The required part: audio checks, decode, loudness, cover checks, then the derivatives of a pass."""
    faults.inject(settings, "validation.audio", audio.key)
    store = child_store(settings)
    heard, seen = check_audio(store, audio, settings), check_cover(store, cover, settings)
    if heard.problems or seen.problems:
        return Checked(problems=heard.problems + seen.problems)
    return Checked(audio=heard.facts, cover=seen.facts, excerpts=heard.excerpts,
                   images=_store_derivatives(store, settings, seen, owner_id, "tracks"))


def check_collection(settings: Settings, cover: ObjectRef, owner_id: str) -> Checked:
    """The album art: a track cover's checks, derivatives under collections/{id}/."""
    store = child_store(settings)
    seen = check_cover(store, cover, settings)
    if seen.problems:
        return Checked(problems=seen.problems)
    return Checked(cover=seen.facts, images=_store_derivatives(store, settings, seen, owner_id, "collections"))


def estimate(settings: Settings, facts: AudioFacts, excerpts: list[Excerpt], audio_key: str) -> AudioFacts:
    """The optional part: ``facts`` with the BPM and key estimated from the excerpts."""
    faults.inject(settings, "validation.estimate", audio_key)
    return estimated(facts, excerpts, settings)


def _store_derivatives(store: ObjectStore, settings: Settings, cover: CoverResult, owner_id: str,
                       kind: str) -> dict[str, ObjectRef]:
    refs = {}
    for name, key in derivative_keys(owner_id, kind).items():
        put = store.put_bytes(settings.media_bucket, key, cover.derivatives[name], "image/jpeg")
        refs[name] = ObjectRef(bucket=settings.media_bucket, key=key, size=put.size, sha256=put.sha256,
                               content_type="image/jpeg")
    return refs
