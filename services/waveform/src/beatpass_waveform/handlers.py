"""Event handlers: plain functions of (event, dependencies), testable without a broker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from beatpass_common import faults, keys
from beatpass_common.config import Settings
from beatpass_common.events import Event, ObjectRef, WaveformGenerated, new_event
from beatpass_common.isolation import Runner, child_store

from .options import WaveformOptions
from .outputs import generate

log = logging.getLogger(__name__)


def media_key(track_id: str, extension: str) -> str:
    return keys.media_key("tracks", track_id, f"waveform.{extension}")


def handle_track_validated(
    event: Event,
    *,
    publish: Callable[[Event], None],
    settings: Settings,
    runner: Runner,
    options: WaveformOptions | None = None,
) -> None:
    """Draw the waveform of a validated track and announce it.

    Keys depend only on the track and the output is a pure function of the audio and options, so
    a redelivery overwrites the objects with the same bytes and publishes the same event id.
    Audio that cannot be read here raises (validation accepted it, so the fault is ours): the bus
    retries, then reports step.failed. The drawing runs in ``runner``'s supervised child; an
    overrun raises ``beatpass_common.errors.Overrun``.
    """
    if event.track_id is None:
        raise ValueError(f"track.validated {event.id} has no track_id")
    options = options or WaveformOptions.from_settings(settings)
    samples_per_pixel, refs = runner.call(draw, settings, options, event.payload().source, event.track_id)
    log.info("waveform drawn: %d samples per pixel, %d bytes of JSON", samples_per_pixel, refs["json"].size)
    data = WaveformGenerated(
        json_ref=refs["json"], dat=refs["dat"], png=refs["png"], samples_per_pixel=samples_per_pixel, bits=options.bits
    )
    publish(
        new_event(
            "waveform.generated",
            data,
            caused_by=event,
            producer_id=event.producer_id,
            track_id=event.track_id,
            collection_id=event.collection_id,
        )
    )


def draw(
    settings: Settings, options: WaveformOptions, source: ObjectRef, track_id: str
) -> tuple[int, dict[str, ObjectRef]]:
    """In the child: read the audio, compute the peaks, write JSON, .dat and PNG to the media bucket.
    Returns the samples per pixel used and the stored objects by extension."""
    faults.inject(settings, "waveform.peaks", source.key)
    store = child_store(settings)
    with store.open(source.bucket, source.key) as stream:
        samples_per_pixel, outputs = generate(stream, options)
    refs = {}
    for output in outputs:
        key = media_key(track_id, output.extension)
        put = store.put_bytes(settings.media_bucket, key, output.body, output.content_type)
        refs[output.extension] = ObjectRef(
            bucket=settings.media_bucket, key=key, size=put.size, sha256=put.sha256, content_type=output.content_type
        )
    return samples_per_pixel, refs
