"""The routes that change what a producer saved (use cases in ``editing``): approved producers
only, owner only (another producer's id is 404), ``Idempotency-Key`` honoured like a save's."""

from __future__ import annotations

from flask import Blueprint

from . import editing, views
from .api import _check_ids, _gw, _saving

bp = Blueprint("edit_api", __name__)
bp.url_value_preprocessor(_check_ids)


def _presented(producer, view: dict) -> dict:
    """The edit's view presented for the producer (views.present): the stored idempotent answer
    keeps it bare, so a replay too hands out links that have not expired."""
    return views.present(_gw(), producer.id, view, with_edits=False)


@bp.patch("/api/v1/tracks/<track_id>")
def edit_track(track_id):
    return _saving(
        f"PATCH /api/v1/tracks/{track_id}",
        "track_edit",
        lambda producer, body: editing.edit_track(_gw(), producer, track_id, body),
        _presented,
    )


@bp.patch("/api/v1/collections/<collection_id>")
def edit_collection(collection_id):
    return _saving(
        f"PATCH /api/v1/collections/{collection_id}",
        "collection_edit",
        lambda producer, body: editing.edit_collection(_gw(), producer, collection_id, body),
        _presented,
    )


@bp.post("/api/v1/tracks/<track_id>/replace")
def replace(track_id):
    return _saving(
        f"POST /api/v1/tracks/{track_id}/replace",
        "replace",
        lambda producer, body: editing.replace_track(_gw(), producer, track_id, body),
    )
