"""Field rules a stranger found loose: a title of invisible characters, a genre of any length."""

from __future__ import annotations

import pytest

from beatpass_common.config import Settings
from beatpass_upload.fields import check_track_fields

FIELDS = {"title": "Night Drive", "artists": ["Kai"], "bpm": 120, "key": "A", "scale": "minor",
          "licensing": "non_exclusive", "audio_upload_id": "a" * 32, "cover_upload_id": "c" * 32}


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
        ("genres", "GENRE_INVALID", "Each genre must be 40 characters or fewer.")]
