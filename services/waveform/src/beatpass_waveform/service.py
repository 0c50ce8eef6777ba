"""Wires the waveform handler to the bus, object storage and its supervised child process."""

from __future__ import annotations

from functools import partial

from prometheus_client import Counter

from beatpass_common.bus import Bus
from beatpass_common.config import Settings
from beatpass_common.events import Event
from beatpass_common.isolation import Runner, child_store
from beatpass_common.runner import Runtime

from .handlers import handle_track_validated
from .options import WaveformOptions

OUTPUT_BYTES = Counter("beatpass_waveform_output_bytes_total", "Bytes of waveform files written", ["format"])


def count_outputs(event: Event) -> None:
    """A bus observer: the bytes of the files a published waveform.generated names, by format."""
    if event.type == "waveform.generated":
        data = event.payload()
        for fmt in ("json", "dat", "png"):
            OUTPUT_BYTES.labels(fmt).inc(getattr(data, fmt).size)


def build(settings: Settings) -> Runtime:
    child_store(settings).ensure_bucket(settings.media_bucket)
    bus = Bus(settings, "waveform", step="waveform")
    runner = Runner.from_settings(settings, preload=("beatpass_waveform.outputs",))
    handler = partial(
        handle_track_validated,
        publish=bus.publish,
        settings=settings,
        runner=runner,
        options=WaveformOptions.from_settings(settings),
    )
    bus.subscribe("waveform.tracks", {"track.validated": handler})
    bus.observers.append(count_outputs)
    return Runtime("waveform", settings, bus=bus, on_stop=[runner.close], interrupts=[runner.terminate], deps=runner)
