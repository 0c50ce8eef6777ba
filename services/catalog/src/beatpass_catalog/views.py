"""How records look to the gateway (and so to producers): plain JSON documents."""

from __future__ import annotations

from beatpass_common.tracks import DuplicateView, StepView, TrackView

from .models import Collection, Track


def media_refs(track: Track) -> dict[str, dict]:
    """Derived objects a producer may fetch through the gateway, by public name."""
    waveform = track.waveform or {}
    refs = {f"waveform.{fmt}": waveform[fmt] for fmt in ("json", "dat", "png") if fmt in waveform}
    for size, ref in ((track.cover or {}).get("images") or {}).items():
        refs[f"cover-{size}.jpg"] = ref
    return refs


def _link(track: Track, name: str) -> str:
    return f"/api/v1/tracks/{track.id}/media/{name}"


def track_view(track: Track) -> dict:
    """The track's document (beatpass_common.tracks.TrackView)."""
    refs = media_refs(track)
    waveform = None
    if track.waveform:
        waveform = {
            "samples_per_pixel": track.waveform.get("samples_per_pixel"),
            "bits": track.waveform.get("bits"),
            **{fmt: _link(track, f"waveform.{fmt}") for fmt in ("json", "dat", "png") if f"waveform.{fmt}" in refs},
        }
    cover = {name[len("cover-") : -len(".jpg")]: _link(track, name) for name in refs if name.startswith("cover-")}
    duplicate = None
    if track.duplicate:
        d = track.duplicate
        # Another producer's match is described without its title or owner.
        duplicate = DuplicateView(
            kind=d.get("kind"),
            score=d.get("score"),
            offset_s=d.get("offset_s"),
            decision=d.get("decision"),
            own=bool(d.get("own")),
            pitch_semitones=d.get("pitch_semitones"),
            tempo_ratio=d.get("tempo_ratio"),
            track_id=d.get("track_id") if d.get("own") else None,
            title=d.get("title"),
        )
    return TrackView(
        id=track.id,
        status=track.status,
        collection_id=track.collection_id,
        title=track.title,
        metadata=track.meta,
        submission=track.submission,
        # error: the producer's sentence when the step failed (records.failed_message), reason: why
        steps={
            s.name: StepView(
                state=s.state,
                attempts=s.attempts,
                error=s.error,
                reason=s.reason,
                started_at=s.started_at,
                finished_at=s.finished_at,
                deadline_at=s.deadline_at,
            )
            for s in track.steps
        },
        errors=track.errors or [],
        warnings=track.warnings or [],
        facts=track.facts,
        cover=cover,
        waveform=waveform,
        duplicate=duplicate,
        dispute=track.dispute,
        replaces_track_id=track.replaces_track_id,
        replaced_by=track.replaced_by,
        edit=track.edit_seq,
        created_at=track.created_at,
        updated_at=track.updated_at,
        version=track.version,
    ).document()


def _cover_names(collection: Collection) -> dict[str, str]:
    """size -> public file name of the album art in force. A changed cover's names carry its
    revision, so a browser never shows an older image it cached under the same link."""
    cover = collection.cover or {}
    suffix = f"-r{cover['revision']}" if cover.get("revision") else ""
    return {size: f"cover-{size}{suffix}.jpg" for size in cover.get("images") or {}}


def collection_media_refs(collection: Collection) -> dict[str, dict]:
    images = (collection.cover or {}).get("images") or {}
    return {name: images[size] for size, name in _cover_names(collection).items()}


def collection_view(collection: Collection, tracks: list[Track]) -> dict:
    by_id = {t.id: t for t in tracks}
    return {
        "id": collection.id,
        "title": collection.title,
        "status": collection.status,
        "errors": collection.errors or [],
        "cover": {
            size: f"/api/v1/collections/{collection.id}/media/{name}" for size, name in _cover_names(collection).items()
        },
        # a changed cover not in force yet: {"state": "checking" | "rejected", "errors": [...]}, else null
        "cover_change": collection.cover_change,
        "edits": collection.edits or {},  # the last edit applied per part: title, order, cover
        "version": collection.version,
        "items": [
            track_view(by_id[tid]) if tid in by_id else {"id": tid, "status": "processing"}
            for tid in collection.track_ids
        ],
        "created_at": collection.created_at.isoformat(),
        "updated_at": collection.updated_at.isoformat(),
    }
