"""Event handlers: plain functions of (event, dependencies), testable without a broker."""

from __future__ import annotations

import logging
from typing import Callable

from beatpass_common.config import Settings
from beatpass_common.events import Event, ObjectRef, WaveformGenerated, new_event
from beatpass_common.storage import ObjectStore
from prometheus_client import Counter

from .options import WaveformOptions
from .outputs import generate

log = logging.getLogger(__name__)

OUTPUT_BYTES = Counter("beatpass_waveform_output_bytes_total", "Bytes of waveform files written", ["format"])


def media_key(track_id: str, extension: str) -> str:
    return f"tracks/{track_id}/waveform.{extension}"


def handle_track_validated(event: Event, *, store: ObjectStore, publish: Callable[[Event], None],
                           settings: Settings, options: WaveformOptions | None = None) -> None:
    """Draw the waveform of a validated track and announce it.

    Keys depend only on the track and the output is a pure function of the audio and options, so
    a redelivery overwrites the objects with the same bytes and publishes the same event id.
    Audio that cannot be read here raises (validation accepted it, so the fault is ours): the bus
    retries, then reports step.failed.
    """
    if event.track_id is None:
        raise ValueError(f"track.validated {event.id} has no track_id")
    options = options or WaveformOptions.from_settings(settings)
    source = event.payload().source
    with store.open(source.bucket, source.key) as stream:
        samples_per_pixel, outputs = generate(stream, options)
    refs = {}
    for output in outputs:
        key = media_key(event.track_id, output.extension)
        put = store.put_bytes(settings.media_bucket, key, output.body, output.content_type)
        OUTPUT_BYTES.labels(output.extension).inc(put.size)
        refs[output.extension] = ObjectRef(bucket=settings.media_bucket, key=key, size=put.size,
                                           sha256=put.sha256, content_type=output.content_type)
    log.info("waveform drawn: %d samples per pixel, %d bytes of JSON", samples_per_pixel, refs["json"].size)
    data = WaveformGenerated(json=refs["json"], dat=refs["dat"], png=refs["png"],
                             samples_per_pixel=samples_per_pixel, bits=options.bits)
    publish(new_event("waveform.generated", data, caused_by=event, producer_id=event.producer_id,
                      track_id=event.track_id, collection_id=event.collection_id))
