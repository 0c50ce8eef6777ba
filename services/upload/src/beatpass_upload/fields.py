"""The required-field rules for saving a track (BeatPass's rules, DESIGN.md), with the exact
sentences a producer reads. The upload page shows the same sentences (served by /api/v1/rules)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from beatpass_common import disputes, media_rules
from beatpass_common.config import Settings

KEYS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SCALES = ("major", "minor")
LICENSING = ("non_exclusive", "exclusive", "free_download")
TITLE_MAX = 100
ARTISTS_MAX = 5
NAME_MAX = 100
GENRES_MAX = 3
TAGS_MAX = 10
TAG_MAX = 40
GENRE_MAX = 40
DESCRIPTION_MAX = 2000
MOOD_MAX = 50


def messages(settings: Settings) -> dict[str, str]:
    return {
        "AUDIO_REQUIRED": "Audio is required.",
        "AUDIO_UPLOAD_ID_INVALID": "The audio upload id must be text (the id of your upload).",
        "COVER_REQUIRED": "Cover art is required.",
        "COVER_UPLOAD_ID_INVALID": "The cover art upload id must be text (the id of your upload).",
        "TITLE_REQUIRED": "Title is required.",
        "TITLE_NOT_TEXT": "Title must be text.",
        "TITLE_TOO_LONG": f"Title must be {TITLE_MAX} characters or fewer.",
        "ARTISTS_REQUIRED": "Add at least one artist.",
        "ARTISTS_TOO_MANY": f"Add no more than {ARTISTS_MAX} artists.",
        "ARTIST_INVALID": f"Each artist name must be 1 to {NAME_MAX} characters.",
        "ARTISTS_NOT_TEXT": "Each artist must be a name (text).",
        "BPM_REQUIRED": "BPM is required.",
        "BPM_INVALID": f"BPM must be a whole number between {settings.bpm_min} and {settings.bpm_max}.",
        "KEY_REQUIRED": "Key is required.",
        "KEY_INVALID": f"Key must be one of {', '.join(KEYS)}.",
        "SCALE_REQUIRED": "Scale is required.",
        "SCALE_INVALID": "Scale must be major or minor.",
        "LICENSING_REQUIRED": "Licensing is required.",
        "LICENSING_INVALID": "Licensing must be non_exclusive, exclusive or free_download.",
        "GENRES_TOO_MANY": f"Choose no more than {GENRES_MAX} genres.",
        "GENRES_NOT_TEXT": "Each genre must be a name (text).",
        "GENRE_INVALID": f"Each genre must be {GENRE_MAX} characters or fewer.",
        "TAGS_TOO_MANY": f"Add no more than {TAGS_MAX} tags.",
        "TAG_INVALID": f"Each tag must be 1 to {TAG_MAX} characters.",
        "TAGS_NOT_TEXT": "Each tag must be text.",
        "DESCRIPTION_TOO_LONG": f"Description must be {DESCRIPTION_MAX} characters or fewer.",
        "DESCRIPTION_NOT_TEXT": "Description must be text.",
        "MOOD_INVALID": f"Mood must be {MOOD_MAX} characters or fewer.",
        "MOOD_NOT_TEXT": "Mood must be text.",
        "REPLACES_TRACK_ID_INVALID": "The track to replace must be given by its id (text).",
        "DISPUTE_REASON_REQUIRED": disputes.REASON_REQUIRED,  # the catalog checks it; the page says it first
        "COLLECTION_TITLE_REQUIRED": "Collection title is required.",
        "COLLECTION_TITLE_NOT_TEXT": "Collection title must be text.",
        "COLLECTION_COVER_REQUIRED": "Album cover art is required.",
        "COLLECTION_TRACKS_REQUIRED": "Add at least one track to the collection.",
        "COLLECTION_TRACKS_INVALID": "Tracks must be a list of tracks, each an object with its fields.",
        "COLLECTION_TOO_MANY_TRACKS": f"A collection can hold at most {settings.collection_tracks_max} tracks.",
        # Edits (PATCH) and replacements (editing.py)
        "EDIT_EMPTY": "Change at least one field.",
        "FIELD_UNKNOWN": "This field cannot be changed here.",
        "FIELD_NOT_EDITABLE": "The audio and cover art of a saved track are changed by replacing them, not by an edit.",
        "NOT_EDITABLE": "This track was replaced by a newer version. Edit that version instead.",
        "NEW_VERSION_PENDING": "A new version of this track is still being checked. Until it is ready or "
        "refused, make changes on that version instead.",
        "REPLACE_EMPTY": "Choose a new audio file or new cover art to replace.",
        "TRACK_IDS_INVALID": "The new order must be a list of the collection's track ids.",
        "TRACK_IDS_REPEATED": "Each track can appear only once in the new order.",
        "TRACK_IDS_UNKNOWN": "The new order names a track that is not in this collection.",
        "TRACK_IDS_MISSING": "The new order must list every track of this collection.",
    }


@dataclass(frozen=True)
class FieldError:
    field: str | None  # None: the body as a whole (EDIT_EMPTY)
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


# One 404 per kind of record: another producer's id answers exactly like an unknown one.
TRACK_NOT_FOUND = FieldError("track", "TRACK_NOT_FOUND", "Track not found.")
COLLECTION_NOT_FOUND = FieldError("collection", "COLLECTION_NOT_FOUND", "Collection not found.")
# A media file: unknown record, another producer's, or not made yet (e.g. the waveform) alike.
MEDIA_NOT_FOUND = FieldError("media", "MEDIA_NOT_FOUND", "Media not found.")
MISSING = {"tracks": TRACK_NOT_FOUND, "collections": COLLECTION_NOT_FOUND, "media": MEDIA_NOT_FOUND}


def _blank(value) -> bool:
    """Absent: null, or text with nothing visible in it (whitespace, zero-width and other format or
    control characters only). Any other type is present (and then refused as the wrong type)."""
    return value is None or (
        isinstance(value, str) and not any(unicodedata.category(ch)[0] not in "ZC" for ch in value)
    )


# Unicode's bidirectional embedding, override and isolate controls (UAX #9, "Explicit
# Directional Formatting Characters"): invisible, they make a name display as another
# ("\u202eRTL" shows as "LTR"). Right-to-left text needs none of them; its marks (U+200E, U+200F,
# U+061C) stay allowed.
DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
TEXT_LABELS = {
    "title": "The title",
    "artists": "Artist names",
    "description": "The description",
    "genres": "Genres",
    "tags": "Tags",
    "mood": "The mood",
}


COLLECTION_TITLE_LABEL = "The collection title"
# One sentence per field, "{label}" replaced by the field's label (the page fills it the same way).
DIRECTION_SENTENCE = (
    "{label} must not contain invisible text-direction characters (such as U+202E), which change how the text reads."
)


def direction_rule() -> dict:
    """The text-direction rule as GET /api/v1/rules serves it, so the page checks every text
    field before sending it: ``{"characters": str, "labels": {field: label}, "collection_label":
    str, "sentence": str}`` (the sentence with a ``{label}`` placeholder)."""
    return {
        "characters": "".join(sorted(DIRECTION_CONTROLS)),
        "labels": dict(TEXT_LABELS),
        "collection_label": COLLECTION_TITLE_LABEL,
        "sentence": DIRECTION_SENTENCE,
    }


def direction_problems(body: dict, prefix: str = "", labels: dict[str, str] = TEXT_LABELS) -> list[FieldError]:
    """TEXT_DIRECTION_CONTROL for each text field of ``body`` (a string, or a list of strings)
    holding a character of ``DIRECTION_CONTROLS``."""
    problems = []
    for field, label in labels.items():
        value = body.get(field)
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if any(isinstance(t, str) and not DIRECTION_CONTROLS.isdisjoint(t) for t in texts):
            problems.append(
                FieldError(prefix + field, "TEXT_DIRECTION_CONTROL", DIRECTION_SENTENCE.format(label=label))
            )
    return problems


def _str_list(value) -> list | None:
    """A list of strings, or one comma-separated string (from a simple form); None for any other
    type or any element that is not a string."""
    if isinstance(value, str):  # "a, b" from a simple form
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value]


def check_track_fields(
    body: dict, settings: Settings, prefix: str = "", *, uploads_required: bool = True, cover_default: bool = False
) -> tuple[list[FieldError], dict]:
    """Every problem with ``body`` (one entry per problem) and the cleaned metadata."""
    msg = messages(settings)
    errors: list[FieldError] = []

    def err(field, code):
        errors.append(FieldError(prefix + field, code, msg[code]))

    for name, field, code in (
        ("audio_upload_id", "audio", "AUDIO_UPLOAD_ID_INVALID"),
        ("cover_upload_id", "cover", "COVER_UPLOAD_ID_INVALID"),
    ):
        if body.get(name) is not None and not isinstance(body[name], str):  # a string naming nothing: UPLOAD_NOT_FOUND
            err(field, code)
    if uploads_required and _blank(body.get("audio_upload_id")):
        err("audio", "AUDIO_REQUIRED")
    if uploads_required and not cover_default and _blank(body.get("cover_upload_id")):
        err("cover", "COVER_REQUIRED")

    clean: dict = {}
    title = body.get("title")
    if _blank(title):
        err("title", "TITLE_REQUIRED")
    elif not isinstance(title, str):
        err("title", "TITLE_NOT_TEXT")
    elif len(title.strip()) > TITLE_MAX:
        err("title", "TITLE_TOO_LONG")
    else:
        clean["title"] = title.strip()

    artists = [] if body.get("artists") is None else _str_list(body["artists"])
    if artists is None:
        err("artists", "ARTISTS_NOT_TEXT")
    elif not artists:
        err("artists", "ARTISTS_REQUIRED")
    elif len(artists) > ARTISTS_MAX:
        err("artists", "ARTISTS_TOO_MANY")
    elif any(not a or len(a) > NAME_MAX for a in artists):
        err("artists", "ARTIST_INVALID")
    else:
        clean["artists"] = artists

    bpm = body.get("bpm")
    if _blank(bpm):
        err("bpm", "BPM_REQUIRED")
    else:
        number = _whole_number(bpm)
        if number is None or not settings.bpm_min <= number <= settings.bpm_max:
            err("bpm", "BPM_INVALID")
        else:
            clean["bpm"] = number

    for field, allowed, required, invalid in (
        ("key", KEYS, "KEY_REQUIRED", "KEY_INVALID"),
        ("scale", SCALES, "SCALE_REQUIRED", "SCALE_INVALID"),
        ("licensing", LICENSING, "LICENSING_REQUIRED", "LICENSING_INVALID"),
    ):
        value = body.get(field)
        if _blank(value):
            err(field, required)
        elif value not in allowed:
            err(field, invalid)
        else:
            clean[field] = value

    description = body.get("description")
    if not _blank(description):
        if not isinstance(description, str):
            err("description", "DESCRIPTION_NOT_TEXT")
        elif len(description) > DESCRIPTION_MAX:
            err("description", "DESCRIPTION_TOO_LONG")
        else:
            clean["description"] = description.strip()
    genres = _str_list(body["genres"]) if body.get("genres") is not None else []
    if genres is None:
        err("genres", "GENRES_NOT_TEXT")
    elif len(genres) > GENRES_MAX:
        err("genres", "GENRES_TOO_MANY")
    elif any(len(g) > GENRE_MAX for g in genres):
        err("genres", "GENRE_INVALID")
    else:
        clean["genres"] = [g for g in genres if g]
    tags = _str_list(body["tags"]) if body.get("tags") is not None else []
    if tags is None:
        err("tags", "TAGS_NOT_TEXT")
    elif len(tags) > TAGS_MAX:
        err("tags", "TAGS_TOO_MANY")
    elif any(not t or len(t) > TAG_MAX for t in tags):
        err("tags", "TAG_INVALID")
    else:
        clean["tags"] = tags
    mood = body.get("mood")
    if not _blank(mood):
        if not isinstance(mood, str):
            err("mood", "MOOD_NOT_TEXT")
        elif len(mood) > MOOD_MAX:
            err("mood", "MOOD_INVALID")
        else:
            clean["mood"] = mood.strip()
    errors.extend(direction_problems(body, prefix))
    return errors, clean


def check_collection_title(value, settings: Settings) -> tuple[list[FieldError], str | None]:
    """A collection's title (a save's or an edit's): its problems and the cleaned title."""
    msg = messages(settings)
    if _blank(value):
        return [FieldError("title", "COLLECTION_TITLE_REQUIRED", msg["COLLECTION_TITLE_REQUIRED"])], None
    if not isinstance(value, str):
        return [FieldError("title", "COLLECTION_TITLE_NOT_TEXT", msg["COLLECTION_TITLE_NOT_TEXT"])], None
    if len(value.strip()) > TITLE_MAX:
        return [FieldError("title", "TITLE_TOO_LONG", msg["TITLE_TOO_LONG"])], None
    if problems := direction_problems({"title": value}, labels={"title": COLLECTION_TITLE_LABEL}):
        return problems, None
    return [], value.strip()


def _whole_number(value) -> int | None:
    """A JSON number with no fractional part. 120.0 counts: JSON has one number type, and
    JavaScript clients may write a whole number that way. Strings ("120", full-width digits) and
    booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def rules(settings: Settings) -> dict:
    """``GET /api/v1/rules``: every rule a save is checked by, with its sentences, so the upload
    page checks exactly like the API (codes → sentences in ``messages``; limits from here, the
    settings, validation's media rules and the dispute rules)."""
    return {
        "messages": messages(settings),
        "keys": KEYS,
        "scales": SCALES,
        "licensing": LICENSING,
        "bpm": {"min": settings.bpm_min, "max": settings.bpm_max},
        "title_max": TITLE_MAX,
        "artists_max": ARTISTS_MAX,
        "genres_max": GENRES_MAX,
        "tags_max": TAGS_MAX,
        "text_max": {
            "artist": NAME_MAX,
            "genre": GENRE_MAX,
            "tag": TAG_MAX,
            "mood": MOOD_MAX,
            "description": DESCRIPTION_MAX,
        },
        "max_upload_bytes": settings.max_upload_bytes,
        "audio_max_bytes": settings.audio_max_bytes,
        "cover_max_bytes": settings.cover_max_bytes,
        "step_slow_after_s": settings.step_slow_after_s,
        "dispute_reason": {"min": disputes.REASON_MIN, "max": disputes.REASON_MAX},
        "text_direction": direction_rule(),
        "format_refusals": media_rules.format_refusals(),
    }
