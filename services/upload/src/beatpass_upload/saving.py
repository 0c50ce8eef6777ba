"""Saving tracks and collections: check everything, then commit it all at once.

A save checks every field and upload first and answers with one entry per problem. Then one
transaction reserves upload minutes, marks the uploads used, records the submission and stages the
events in the outbox: either all of that happens or none of it (a collection is all-or-nothing).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from beatpass_common import faults
from beatpass_common.config import Settings
from beatpass_common.db import affected
from beatpass_common.events import ObjectRef, TrackMetadata, new_event
from beatpass_common.outbox import Outbox
from beatpass_common.storage import ObjectStore

from . import quota
from .fields import FieldError, check_collection_title, check_track_fields, messages
from .models import CollectionRecord, Submission, Upload
from .uploads import UploadError, Uploads, is_upload_id

log = logging.getLogger(__name__)
SAVES = Counter("beatpass_upload_saves_total", "Saves by kind and outcome code", ["kind", "code"])


class SaveRejected(Exception):
    """422 (or ``status``) with one entry per problem."""

    def __init__(self, errors: list[FieldError], status: int = 422):
        super().__init__("; ".join(e.message for e in errors))
        self.errors, self.status = errors, status


@dataclass
class CheckedTrack:
    track_id: str
    fields: dict
    audio: Upload | None  # None: refused (see errors)
    cover: Upload | None
    duration_s: float
    filename: str | None
    replaces_track_id: str | None = None
    attempt: int = 0
    errors: list[FieldError] = field(default_factory=list)
    # The audio upload is already this track's (its previous submission's, or the version it
    # replaces): held as it is, not claimed again.
    audio_kept: bool = False
    edits: int = 0  # the producer's edits ``fields`` include (Submission.edits of the base)

    def files(self) -> tuple[Upload, Upload]:
        """(audio, cover) of a track that passed its checks; ValueError for one that did not."""
        if self.audio is None or self.cover is None:
            raise ValueError(f"track {self.track_id} was refused: {[e.code for e in self.errors]}")
        return self.audio, self.cover


class Saver:
    def __init__(self, factory: sessionmaker[Session], store: ObjectStore, outbox: Outbox, settings: Settings):
        self.factory = factory
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.msg = messages(settings)
        self.uploads = Uploads(factory, store, settings)

    # ---- checks ----------------------------------------------------------------------------

    def _upload(
        self,
        producer_id: str,
        upload_id,
        field_: str,
        errors: list[FieldError],
        allow_track: str | None = None,
        kept: bool = False,
    ) -> Upload | None:
        """The producer's complete upload, or None with the problem in ``errors``. An audio upload
        saved as another track is refused unless it is ``kept`` (already this track's)."""
        with self.factory() as s:
            upload = s.get(Upload, upload_id) if is_upload_id(upload_id) else None
        label = "audio" if field_.endswith("audio") else "cover art"
        if upload is None or upload.producer_id != producer_id or upload.status in {"terminated", "expired"}:
            errors.append(
                FieldError(field_, "UPLOAD_NOT_FOUND", f"The {label} upload was not found. Upload the file again.")
            )
            return None
        if upload.status != "complete":
            errors.append(
                FieldError(
                    field_,
                    "UPLOAD_INCOMPLETE",
                    f"The {label} upload is not finished yet ({upload.offset} of {upload.length} bytes received).",
                )
            )
            return None
        if upload.concat == "partial":
            errors.append(
                FieldError(
                    field_,
                    "UPLOAD_PARTIAL",
                    f"The {label} upload is one part of a parallel upload; save the final upload that joins its parts.",
                )
            )
            return None
        if upload.track_id and upload.track_id != allow_track and field_.endswith("audio") and not kept:
            errors.append(FieldError(field_, "UPLOAD_ALREADY_SAVED", "This audio upload is already saved as a track."))
            return None
        return upload

    def _inspection(self, upload: Upload, kind: str, field_: str) -> tuple[list[FieldError], dict | None]:
        """The problems the upload's inspection found (validation's codes and sentences, under
        the save body's field name) and its facts. The upload is judged as ``kind``, the role
        the save gives it, whatever it declared."""
        try:
            found = self.uploads.inspected(upload, kind)
        except UploadError as exc:
            raise SaveRejected([FieldError(field_, exc.code, exc.message)], exc.status) from None
        return [FieldError(field_, p["code"], p["message"]) for p in found["problems"]], found["facts"]

    def check_track(
        self,
        producer_id: str,
        body: dict,
        prefix: str = "",
        *,
        default_cover: str | None = None,
        track_id: str | None = None,
        base: Submission | None = None,
        kept_audio: str | None = None,
    ) -> CheckedTrack:
        """All problems of one track; ``base`` is the previous submission when retrying;
        ``kept_audio``: an audio upload id that is already this track's (a replacement keeping the
        audio of the version it replaces)."""
        kept_audio = kept_audio or (base.audio_upload_id if base is not None else None)
        if base is not None:
            body = {
                **base.fields,
                "audio_upload_id": base.audio_upload_id,
                "cover_upload_id": base.cover_upload_id,
                **{k: v for k, v in body.items() if v is not None},
            }
        errors, clean = check_track_fields(body, self.settings, prefix, cover_default=default_cover is not None)
        track_id = track_id or str(uuid.uuid4())
        audio = cover = None
        duration = 0.0
        if isinstance(body.get("audio_upload_id"), str) and body["audio_upload_id"]:
            audio = self._upload(
                producer_id,
                body["audio_upload_id"],
                prefix + "audio",
                errors,
                allow_track=track_id,
                kept=body["audio_upload_id"] == kept_audio,
            )
        cover_id = body.get("cover_upload_id") or default_cover
        if isinstance(cover_id, str) and cover_id:
            cover = self._upload(producer_id, cover_id, prefix + "cover", errors)
        if audio is not None:
            # Upload minutes are reserved for the length the header gives (what validation reports).
            problems, facts = self._inspection(audio, "audio", prefix + "audio")
            errors.extend(problems)
            duration = facts["duration_s"] if facts and not problems else 0.0
        if cover is not None and cover_id != default_cover:  # the album cover is judged once, as "cover"
            errors.extend(self._inspection(cover, "cover", prefix + "cover")[0])
        return CheckedTrack(
            track_id=track_id,
            fields=clean,
            audio=audio,
            cover=cover,
            duration_s=duration,
            filename=(audio.meta or {}).get("filename") if audio else None,
            errors=errors,
            replaces_track_id=body.get("replaces_track_id") if isinstance(body.get("replaces_track_id"), str) else None,
            audio_kept=audio is not None and audio.id == kept_audio,
            edits=base.edits if base is not None else 0,
        )

    # ---- commit ----------------------------------------------------------------------------

    def ref(self, upload: Upload) -> ObjectRef:
        return ObjectRef(
            bucket=upload.bucket, key=upload.key, size=upload.length, content_type=(upload.meta or {}).get("filetype")
        )

    def _quota_error(self, exc: quota.QuotaExceeded, track_s: float, field_: str = "audio") -> SaveRejected:
        return SaveRejected(
            [FieldError(field_, "UPLOAD_MINUTES_EXCEEDED", quota.exceeded_message(track_s, exc.remaining_s))]
        )

    def _stage_track(self, s: Session, producer_id: str, t: CheckedTrack, collection_id: str | None) -> None:
        audio, cover = t.files()
        now = datetime.now(UTC)
        if t.audio_kept:
            self.hold(s, audio, "audio")
        else:
            claimed = affected(
                s,
                update(Upload)
                .where(
                    Upload.id == audio.id,
                    Upload.status == "complete",
                    (Upload.track_id.is_(None)) | (Upload.track_id == t.track_id),
                )
                .values(track_id=t.track_id),
            )
            if not claimed:  # another save took this upload between our check and now
                raise SaveRejected(
                    [FieldError("audio", "UPLOAD_ALREADY_SAVED", "This audio upload is already saved as a track.")], 409
                )
        self.hold(s, cover, "cover")
        submission = s.get(Submission, t.track_id, with_for_update=True)
        if submission is None:
            submission = Submission(track_id=t.track_id, producer_id=producer_id, created_at=now, edits=0)
            s.add(submission)
        elif submission.edits != t.edits:
            # An edit committed after this retry read the metadata: submitting the older metadata
            # would undo it. Nothing is kept of this try; the next one reads the edit.
            raise SaveRejected(
                [FieldError("track", "TRACK_EDITED", "This track was edited while you retried it. Retry it again.")],
                409,
            )
        submission.collection_id = collection_id
        submission.attempt = t.attempt
        submission.audio_upload_id = audio.id
        submission.cover_upload_id = cover.id
        submission.fields = t.fields
        submission.duration_s = t.duration_s
        if t.replaces_track_id is not None:  # a retry of a new version stays that version
            submission.replaces_track_id = t.replaces_track_id
        event = new_event(
            "track.submitted",
            {
                "audio": self.ref(audio).model_dump(mode="json"),
                "cover": self.ref(cover).model_dump(mode="json"),
                "metadata": TrackMetadata(**t.fields).model_dump(mode="json"),
                "filename": t.filename,
                "declared_duration_s": round(t.duration_s, 3),
                "replaces_track_id": t.replaces_track_id,
                "edit": submission.edits,
            },
            producer_id=producer_id,
            track_id=t.track_id,
            collection_id=collection_id,
            attempt=t.attempt,
        )
        self.outbox.add(s, event)

    def hold(self, s: Session, upload: Upload, field_: str) -> None:
        """Lock the upload's row until this save commits, and only while it is still complete:
        Uploads.terminate locks the same row, so one of the two waits for the other and then
        sees either the submission (409 UPLOAD_IN_USE) or the termination (refused here)."""
        held = affected(
            s, update(Upload).where(Upload.id == upload.id, Upload.status == "complete").values(status="complete")
        )
        if not held:
            label = "audio" if field_ == "audio" else "cover art"
            raise SaveRejected(
                [FieldError(field_, "UPLOAD_NOT_FOUND", f"The {label} upload was not found. Upload the file again.")],
                409,
            )

    def advance(self, s: Session, track_id: str, attempt: int) -> bool:
        """Move the track's submission from ``attempt`` to ``attempt + 1``, in the caller's
        transaction; False when it no longer holds ``attempt`` (another retry advanced it).

        One conditional UPDATE: PostgreSQL makes a concurrent one wait for the row and re-check
        the condition after the first commits; SQLite runs one writer at a time."""
        return bool(
            affected(
                s,
                update(Submission)
                .where(Submission.track_id == track_id, Submission.attempt == attempt)
                .values(attempt=attempt + 1),
            )
        )

    def save_track(
        self, s: Session, producer_id: str, limit_minutes: int, t: CheckedTrack, collection_id: str | None = None
    ) -> dict:
        """A new track, or the next submission of one (a retry: ``t.attempt`` > 0)."""
        if t.errors:
            raise SaveRejected(t.errors)
        faults.inject(self.settings, "upload.save", t.files()[0].key)  # test-only (beatpass_common.faults)
        try:
            quota.reserve(s, producer_id, limit_minutes, [(t.track_id, t.attempt, t.duration_s)])
        except quota.QuotaExceeded as exc:
            raise self._quota_error(exc, t.duration_s) from None
        self._stage_track(s, producer_id, t, collection_id)
        return {
            "track_id": t.track_id,
            "status": "processing",
            "submission": t.attempt,
            "links": {"self": f"/api/v1/tracks/{t.track_id}", "events": f"/api/v1/tracks/{t.track_id}/events"},
        }

    def check_collection(
        self, producer_id: str, body: dict
    ) -> tuple[list[FieldError], list[CheckedTrack], Upload | None]:
        errors, _ = check_collection_title(body.get("title"), self.settings)
        cover = self.check_collection_cover(producer_id, body.get("cover_upload_id"), errors)
        items = body.get("tracks")
        checked: list[CheckedTrack] = []
        if items is not None and not isinstance(items, list):
            errors.append(FieldError("tracks", "COLLECTION_TRACKS_INVALID", self.msg["COLLECTION_TRACKS_INVALID"]))
        elif not items:
            errors.append(FieldError("tracks", "COLLECTION_TRACKS_REQUIRED", self.msg["COLLECTION_TRACKS_REQUIRED"]))
        elif len(items) > self.settings.collection_tracks_max:  # refused whole, never cut short
            errors.append(FieldError("tracks", "COLLECTION_TOO_MANY_TRACKS", self.msg["COLLECTION_TOO_MANY_TRACKS"]))
        else:
            seen_audio: set[str] = set()
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    errors.append(
                        FieldError(f"tracks[{i}]", "COLLECTION_TRACKS_INVALID", self.msg["COLLECTION_TRACKS_INVALID"])
                    )
                    continue
                t = self.check_track(producer_id, item, f"tracks[{i}].", default_cover=body.get("cover_upload_id"))
                if t.audio is not None and t.audio.id in seen_audio:
                    t.errors.append(
                        FieldError(
                            f"tracks[{i}].audio",
                            "UPLOAD_ALREADY_SAVED",
                            "This audio upload is used by another track of this collection.",
                        )
                    )
                if t.audio is not None:
                    seen_audio.add(t.audio.id)
                errors.extend(t.errors)
                checked.append(t)
        return errors, checked, cover

    def check_collection_cover(self, producer_id: str, cover_id, errors: list[FieldError]) -> Upload | None:
        """The album cover upload of a collection save or edit; its problems go to ``errors``."""
        if cover_id is not None and not isinstance(cover_id, str):
            errors.append(FieldError("cover", "COVER_UPLOAD_ID_INVALID", self.msg["COVER_UPLOAD_ID_INVALID"]))
            return None
        if cover_id is None or not cover_id.strip():
            errors.append(FieldError("cover", "COLLECTION_COVER_REQUIRED", self.msg["COLLECTION_COVER_REQUIRED"]))
            return None
        cover = self._upload(producer_id, cover_id, "cover", errors)
        if cover is not None:
            errors.extend(self._inspection(cover, "cover", "cover")[0])
        return cover

    def save_collection(
        self, s: Session, producer_id: str, limit_minutes: int, body: dict, checked: list[CheckedTrack], cover: Upload
    ) -> dict:
        collection_id = str(uuid.uuid4())
        try:
            quota.reserve(s, producer_id, limit_minutes, [(t.track_id, 0, t.duration_s) for t in checked])
        except quota.QuotaExceeded as exc:
            raise self._quota_error(exc, sum(t.duration_s for t in checked), "tracks") from None
        self.hold(s, cover, "cover")
        for t in checked:
            self._stage_track(s, producer_id, t, collection_id)
        s.add(
            CollectionRecord(
                id=collection_id,
                producer_id=producer_id,
                title=body["title"].strip(),
                cover_upload_id=cover.id,
                track_ids=[t.track_id for t in checked],
                edits={},
                created_at=datetime.now(UTC),
            )
        )
        self.outbox.add(
            s,
            new_event(
                "collection.submitted",
                {
                    "title": body["title"].strip(),
                    "cover": self.ref(cover).model_dump(mode="json"),
                    "track_ids": [t.track_id for t in checked],
                },
                producer_id=producer_id,
                collection_id=collection_id,
            ),
        )
        return {
            "collection_id": collection_id,
            "status": "processing",
            "track_ids": [t.track_id for t in checked],
            "links": {"self": f"/api/v1/collections/{collection_id}"},
        }
