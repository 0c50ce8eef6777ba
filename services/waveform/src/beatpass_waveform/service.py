"""Wires the waveform handler to the bus and to object storage."""

from __future__ import annotations

from functools import partial

from beatpass_common.bus import Bus
from beatpass_common.config import Settings
from beatpass_common.runner import Runtime
from beatpass_common.storage import ObjectStore, open_store

from .handlers import handle_track_validated
from .options import WaveformOptions


def build(settings: Settings, *, store: ObjectStore | None = None) -> Runtime:
    store = store or open_store(settings.resolved_storage_url(), settings.storage_region)
    store.ensure_bucket(settings.media_bucket)
    bus = Bus(settings, "waveform", step="waveform")
    handler = partial(handle_track_validated, store=store, publish=bus.publish, settings=settings,
                      options=WaveformOptions.from_settings(settings))
    bus.subscribe("waveform.tracks", {"track.validated": handler})
    return Runtime("waveform", settings, bus=bus)
