"""The order of a collection's tracks after the producer reorders them (catalog and gateway)."""

from __future__ import annotations


def reordered(current: list[str], wanted: list[str], replaced: dict[str, str | None]) -> list[str]:
    """``current`` in the order of ``wanted`` (the producer's order). A track not named there
    takes the place of the one it ``replaced`` (track id -> id it replaced: a new version became
    ready since the order was asked for); any other keeps its place after the named ones."""
    rank: dict[str, int] = {}
    for i, track_id in enumerate(wanted):
        rank.setdefault(track_id, i)  # a repeat (the gateway refuses them) keeps its first place

    def place(item: tuple[int, str]):
        i, track_id = item
        for candidate in (track_id, replaced.get(track_id)):
            if candidate in rank:
                return 0, rank[candidate], i
        return 1, i, i

    return [track_id for _, track_id in sorted(enumerate(current), key=place)]
