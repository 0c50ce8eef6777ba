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


def check_track_audio(settings: Settings, audio: ObjectRef) -> Checked:
    """The required audio part: header checks, decode, loudness; the facts and excerpts of a pass."""
    faults.inject(settings, "validation.audio", audio.key)
    heard = check_audio(child_store(settings), audio, settings)
    return Checked(problems=heard.problems, audio=heard.facts, excerpts=heard.excerpts)


def check_cover_art(
    settings: Settings,
    cover: ObjectRef,
    owner_id: str,
    kind: str,
    *,
    keep: bool = True,
    audio_key: str | None = None,
    revision: int = 0,
) -> Checked:
    """A cover's checks, then (``keep``) its derivatives stored under ``kind``/{owner_id}/
    (cover.derivative_keys of ``revision``). Run under ``cover_time_limit_s`` of its own;
    ``audio_key`` only keys the test fault."""
    faults.inject(settings, "validation.cover", audio_key)
    store = child_store(settings)
    seen = check_cover(store, cover, settings)
    if seen.problems or not keep:
        return Checked(problems=seen.problems)
    return Checked(cover=seen.facts, images=_store_derivatives(store, settings, seen, owner_id, kind, revision))


def estimate(settings: Settings, facts: AudioFacts, excerpts: list[Excerpt], audio_key: str) -> AudioFacts:
    """The optional part: ``facts`` with the BPM and key estimated from the excerpts."""
    faults.inject(settings, "validation.estimate", audio_key)
    return estimated(facts, excerpts, settings)


def _store_derivatives(
    store: ObjectStore, settings: Settings, cover: CoverResult, owner_id: str, kind: str, revision: int
) -> dict[str, ObjectRef]:
    refs = {}
    for name, key in derivative_keys(owner_id, kind, revision).items():
        put = store.put_bytes(settings.media_bucket, key, cover.derivatives[name], "image/jpeg")
        refs[name] = ObjectRef(
            bucket=settings.media_bucket, key=key, size=put.size, sha256=put.sha256, content_type="image/jpeg"
        )
    return refs
