"""What a producer's track or collection view gets before it leaves the gateway, whichever route
answers with it (a read, a list, an edit, a dispute, a replayed answer): the producer's edits the
catalog has not applied yet, media links signed for that producer, the track's own audio link
and the files it was saved with."""

from __future__ import annotations

from typing import overload

from sqlalchemy import select
from sqlalchemy.orm import aliased

from . import editing, reads, signing
from .models import Submission, Upload


@overload
def present(gw, producer_id: str, doc: dict, *, with_edits: bool = True) -> dict: ...
@overload
def present(gw, producer_id: str, doc: list, *, with_edits: bool = True) -> list: ...
def present(gw, producer_id: str, doc: dict | list, *, with_edits: bool = True) -> dict | list:
    """``doc`` (a track view, a collection view, a list page or a list of them), completed in
    place for ``producer_id`` and returned. Each track view gains ``audio`` (``{"url": <signed
    link>, "filename", "content_type": "audio/wav"}`` or None) and ``files`` (``{"audio": {
    "upload_id", "filename"} | None, "cover": {...} | None}``, what support asks for).
    ``with_edits=False`` for an edit's own answer, which shows that edit (and no later one)."""
    if with_edits:
        editing.fresh(gw, producer_id, doc)
    sign_links(doc, producer_id, gw.settings)
    _add_files(gw, producer_id, doc)
    return doc


def sign_links(doc, producer_id: str, settings) -> None:
    """Sign, in place, the media links of a track/collection view or a list of them (``cover``,
    ``waveform``, ``items``), so an ``<img>`` opens them without a bearer token."""
    if isinstance(doc, list):
        for item in doc:
            sign_links(item, producer_id, settings)
        return
    if not isinstance(doc, dict):
        return
    for field in ("cover", "waveform"):
        links = doc.get(field) or {}
        for name, link in links.items():
            if isinstance(link, str) and link.startswith("/api/v1/"):
                links[name] = signing.sign(settings, link, producer_id, settings.media_url_ttl_s)
    sign_links(doc.get("items"), producer_id, settings)


def _add_files(gw, producer_id: str, doc) -> None:
    views = list(reads.track_views(doc))
    ids = [v["id"] for v in views if isinstance(v["id"], str)]
    audio, cover = aliased(Upload), aliased(Upload)
    with gw.factory() as s:
        rows = (
            {
                sub.track_id: (sub, a, c)
                for sub, a, c in s.execute(
                    select(Submission, audio, cover)
                    .outerjoin(audio, (audio.id == Submission.audio_upload_id) & (audio.producer_id == producer_id))
                    .outerjoin(cover, (cover.id == Submission.cover_upload_id) & (cover.producer_id == producer_id))
                    .where(Submission.track_id.in_(ids), Submission.producer_id == producer_id)
                )
            }
            if ids
            else {}
        )
    for view in views:
        _, a, c = rows.get(view["id"], (None, None, None))
        view["audio"] = (
            None
            if a is None or a.status != "complete"
            else {
                "url": signing.sign(
                    gw.settings, reads.audio_path(view["id"]), producer_id, gw.settings.media_url_ttl_s
                ),
                "filename": (a.meta or {}).get("filename"),
                "content_type": "audio/wav",
            }
        )
        view["files"] = {
            role: None if u is None else {"upload_id": u.id, "filename": (u.meta or {}).get("filename")}
            for role, u in (("audio", a), ("cover", c))
        }
