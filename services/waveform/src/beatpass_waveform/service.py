"""Wires the waveform handler to the bus, object storage and its supervised child process."""

from __future__ import annotations

from functools import partial

from beatpass_common.bus import Bus
from beatpass_common.config import Settings
from beatpass_common.isolation import Runner, child_store
from beatpass_common.runner import Runtime

from .handlers import handle_track_validated
from .options import WaveformOptions


def build(settings: Settings) -> Runtime:
    child_store(settings).ensure_bucket(settings.media_bucket)
    bus = Bus(settings, "waveform", step="waveform")
    runner = Runner.from_settings(settings, preload=("beatpass_waveform.outputs",))
    handler = partial(handle_track_validated, publish=bus.publish, settings=settings, runner=runner,
                      options=WaveformOptions.from_settings(settings))
    bus.subscribe("waveform.tracks", {"track.validated": handler})
    return Runtime("waveform", settings, bus=bus, on_stop=[runner.close], interrupts=[runner.terminate], deps=runner)
