"""Test-only fault injection: make one file's work hang or allocate without bound.

``Settings.test_fault`` is ``"<point>:<action>:<upload id of the audio>"``, e.g.
``"validation.estimate:hang:3f2a..."`` (the upload id is the last part of the audio object's key,
known to every step and to the test that uploaded it). It is empty in every real deployment
(docs/operations.md); tests and the end-to-end suite set it to prove that the hard limits of
``beatpass_common.isolation`` stop work that never yields, and that nothing waits on a dead process.

Points: ``upload.save``, ``validation.audio``, ``validation.cover``, ``validation.estimate``,
``waveform.peaks``, ``fingerprint.print``. Actions: ``hang`` (a busy loop that never yields), ``alloc`` (allocate
until refused or killed), ``stall`` (sleep ``handler_time_limit_s`` holding what the caller holds).
"""

from __future__ import annotations

import logging
import time

from .config import Settings

log = logging.getLogger(__name__)

POINTS = (
    "upload.save",
    "validation.audio",
    "validation.cover",
    "validation.estimate",
    "waveform.peaks",
    "fingerprint.print",
)
ACTIONS = ("hang", "alloc", "stall")
_CHUNK = 64 * 1024**2


def inject(settings: Settings, point: str, audio_key: str | None) -> None:
    """Run the configured fault if ``settings.test_fault`` names this point and the audio object
    ``audio_key`` (``…/uploads/<upload id>``); else nothing."""
    if not settings.test_fault or not audio_key:
        return
    want_point, action, want_id = settings.test_fault.split(":", 2)
    if want_point not in POINTS or action not in ACTIONS:  # a typo must not pass as "no fault"
        raise ValueError(
            f"BEATPASS_TEST_FAULT {settings.test_fault!r}: point is one of {', '.join(POINTS)}, "
            f"action one of {', '.join(ACTIONS)}"
        )
    if (want_point, want_id) != (point, audio_key.rsplit("/", 1)[-1]):
        return
    if action == "hang":
        while True:
            pass
    if action == "alloc":
        held = []
        while True:
            held.append(bytearray(_CHUNK))  # zero-filled: the pages are really touched
    if action == "stall":
        log.warning(
            "test fault %s: stalling %s for %.0f s", settings.test_fault, audio_key, settings.handler_time_limit_s
        )
        time.sleep(settings.handler_time_limit_s)
