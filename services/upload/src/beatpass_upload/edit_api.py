"""The routes that change what a producer saved (use cases in ``editing``): approved producers
only, owner only (another producer's id is 404), ``Idempotency-Key`` honoured like a save's."""

from __future__ import annotations

from flask import Blueprint

from . import editing
from .access import minutes_limit
from .api import _check_ids, _commit, _gw, _idempotent, _sign_links

bp = Blueprint("edit_api", __name__)
bp.url_value_preprocessor(_check_ids)


def _signed(producer, view: dict) -> dict:
    """The view's media links signed for the producer (the stored idempotent answer keeps them
    unsigned, so a replay hands out links that have not expired)."""
    _sign_links(view, producer.id, _gw().settings)
    return view


@bp.patch("/api/v1/tracks/<track_id>")
def edit_track(track_id):
    """200 with the track view showing the edit (editing.plan_track_edit for the refusals)."""
    gw = _gw()

    def work(producer, body):
        plan = editing.plan_track_edit(gw, producer.id, track_id, body)
        return _commit(lambda s: editing.apply_track_edit(gw, s, plan), 200)

    return _idempotent(f"PATCH /api/v1/tracks/{track_id}", "track_edit", work, _signed)


@bp.patch("/api/v1/collections/<collection_id>")
def edit_collection(collection_id):
    """200 with the collection view showing the edit (editing.plan_collection_edit)."""
    gw = _gw()

    def work(producer, body):
        plan = editing.plan_collection_edit(gw, producer.id, collection_id, body)
        return _commit(lambda s: editing.apply_collection_edit(gw, s, plan), 200)

    return _idempotent(f"PATCH /api/v1/collections/{collection_id}", "collection_edit", work, _signed)


@bp.post("/api/v1/tracks/<track_id>/replace")
def replace(track_id):
    """202 like ``POST /api/v1/tracks``: the new version's id (editing.plan_replace)."""
    gw = _gw()

    def work(producer, body):
        plan = editing.plan_replace(gw, producer.id, track_id, body)
        limit = minutes_limit(producer, gw.settings)
        return _commit(lambda s: editing.apply_replace(gw, s, plan, producer.id, limit))

    return _idempotent(f"POST /api/v1/tracks/{track_id}/replace", "replace", work)
