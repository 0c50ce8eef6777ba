"""Field rules a stranger found loose: a title of invisible characters, a genre of any length."""

from __future__ import annotations

import pytest

from beatpass_common import media_rules, sniff
from beatpass_common.config import Settings
from beatpass_upload.fields import (
    DIRECTION_CONTROLS,
    check_collection_title,
    check_track_fields,
    direction_rule,
)

FIELDS = {
    "title": "Night Drive",
    "artists": ["Kai"],
    "bpm": 120,
    "key": "A",
    "scale": "minor",
    "licensing": "non_exclusive",
    "audio_upload_id": "a" * 32,
    "cover_upload_id": "c" * 32,
}


def _codes(**over) -> dict:
    errors, _ = check_track_fields({**FIELDS, **over}, Settings())
    return {e.field: e.code for e in errors}


@pytest.mark.parametrize("title", ["\u200b", " \u200b\u2060 ", "\ufeff", "\t\n", "\u00a0"])
def test_a_title_with_nothing_visible_is_missing(title):
    assert _codes(title=title) == {"title": "TITLE_REQUIRED"}


@pytest.mark.parametrize("title", ["Ω", "a\u200bb", "٣", "🎹"])
def test_a_title_with_something_visible_is_kept(title):
    assert _codes(title=title) == {}


def test_a_genre_is_as_short_as_a_tag():
    assert _codes(genres=["x" * 40]) == {}
    errors, _ = check_track_fields({**FIELDS, "genres": ["trap", "x" * 41]}, Settings())
    assert [(e.field, e.code, e.message) for e in errors] == [
        ("genres", "GENRE_INVALID", "Each genre must be 40 characters or fewer.")
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", "\u202eevirD thgiN"),
        ("artists", ["Kai", "\u2066Mira\u2069"]),
        ("mood", "calm\u202d"),
        ("description", "a\u202ab"),
        ("genres", ["trap\u2067"]),
        ("tags", "dark, \u202bnight"),
    ],
)
def test_text_direction_controls_are_refused_where_they_are(field, value):
    """ "\\u202eRTL\\u202c Kai" displays as "LTR Kai": a name must read as what it is."""
    errors, _ = check_track_fields({**FIELDS, field: value}, Settings(), uploads_required=False)
    assert [(e.field, e.code) for e in errors] == [(field, "TEXT_DIRECTION_CONTROL")]
    assert "invisible text-direction characters" in errors[0].message


def test_right_to_left_text_and_its_marks_are_kept():
    errors, clean = check_track_fields(
        {**FIELDS, "title": "שיר \u200fלילה", "artists": ["\u0645\u064a\u0631\u0627"]},
        Settings(),
        uploads_required=False,
    )
    assert errors == [] and clean["title"] == "שיר \u200fלילה"


def test_a_collection_title_with_a_direction_control_is_refused():
    errors, title = check_collection_title("Dawn \u202eTape", Settings())
    assert title is None and [(e.field, e.code) for e in errors] == [("title", "TEXT_DIRECTION_CONTROL")]
    assert errors[0].message.startswith("The collection title must not contain")


def test_the_direction_rule_served_to_the_page_words_what_the_api_refuses():
    """The page fills /rules' sentence with /rules' label: the API's own sentence, character for character."""
    rule = direction_rule()
    for field, label in rule["labels"].items():
        errors, _ = check_track_fields(
            {**FIELDS, field: "x" + rule["characters"][-1]}, Settings(), uploads_required=False
        )
        assert [e.message for e in errors] == [rule["sentence"].format(label=label)]
    errors, _ = check_collection_title("Dawn " + rule["characters"][0], Settings())
    assert [e.message for e in errors] == [rule["sentence"].format(label=rule["collection_label"])]
    assert set(rule["characters"]) == DIRECTION_CONTROLS


def test_format_refusals_are_validations_sentences():
    refusals = media_rules.format_refusals()
    assert refusals["cover"]["wav"]["message"] == (
        "This file is WAV audio, not JPEG or PNG. BeatPass accepts JPEG or PNG cover art only."
    )
    assert refusals["audio"]["png"] == {"code": "AUDIO_NOT_WAV", "message": media_rules.not_wav(sniff.PNG).message}
    assert "wav" not in refusals["audio"] and {"jpeg", "png"}.isdisjoint(refusals["cover"])


def test_one_list_of_track_fields():
    """The event's model is the one list of a track's metadata fields: the save's and the edit's
    OpenAPI bodies, the edit's allowed fields and what the save's check keeps all follow it, so a
    field added to one and not another fails here instead of vanishing from the event."""
    from beatpass_common.events import TrackMetadata
    from beatpass_upload import editing, openapi

    fields = set(TrackMetadata.model_fields)
    assert set(openapi.TrackFields.model_fields) == fields == set(editing.TRACK_FIELDS)
    assert set(openapi.TrackEdit.model_fields) == fields
    assert set(openapi.Retry.model_fields) == fields | {"audio_upload_id", "cover_upload_id"}
    full = {**FIELDS, "description": "d", "genres": ["trap"], "tags": ["dark"], "mood": "calm"}
    errors, clean = check_track_fields(full, Settings())
    assert errors == [] and set(clean) == fields
    assert TrackMetadata(**clean).model_dump() == clean  # nothing the check keeps is dropped by the event
