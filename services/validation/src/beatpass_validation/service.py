"""Wires the validation handlers to the bus, object storage and their supervised child process."""

from __future__ import annotations

from functools import partial

from beatpass_common.bus import Bus, topology
from beatpass_common.config import Settings
from beatpass_common.isolation import Runner, child_store
from beatpass_common.runner import Runtime

from .handlers import handle_collection_submitted, handle_track_submitted

# What the child imports before its first message (its fixed cost, paid once per child).
PRELOAD = ("beatpass_validation.work", "librosa")


def build(settings: Settings) -> Runtime:
    child_store(settings).ensure_bucket(settings.media_bucket)
    bus = Bus(settings, "validation", step="validation")
    runner = Runner.from_settings(settings, preload=PRELOAD)
    track = partial(handle_track_submitted, publish=bus.publish, settings=settings, runner=runner)
    collection = partial(handle_collection_submitted, publish=bus.publish, settings=settings, runner=runner)
    bus.subscribe("validation.tracks", {"track.submitted": track})
    collections = topology.spec("validation.collections")
    bus.subscribe(collections.name, dict.fromkeys(collections.event_types, collection))
    return Runtime("validation", settings, bus=bus, on_stop=[runner.close], interrupts=[runner.terminate], deps=runner)
