"""Test-only fault injection: make one file's work hang or allocate without bound.

``Settings.test_fault`` is ``"<point>:<action>:<sha256 of the audio>"``, e.g.
``"validation.estimate:hang:ab12..."``. It is empty in every real deployment (docs/operations.md);
tests and the end-to-end suite set it to prove the hard limits of ``beatpass_common.isolation``
stop work that never yields.

Points: ``validation.audio``, ``validation.estimate``, ``waveform.peaks``, ``fingerprint.print``.
Actions: ``hang`` (a busy loop that never yields), ``alloc`` (allocate until refused or killed).
"""

from __future__ import annotations

from .config import Settings

POINTS = ("validation.audio", "validation.estimate", "waveform.peaks", "fingerprint.print")
ACTIONS = ("hang", "alloc")
_CHUNK = 64 * 1024**2


def inject(settings: Settings, point: str, sha256: str | None) -> None:
    """Run the configured fault if ``settings.test_fault`` names this point and this audio; else nothing."""
    if not settings.test_fault or not sha256:
        return
    want_point, action, want_sha = settings.test_fault.split(":", 2)
    if want_point not in POINTS or action not in ACTIONS:  # a typo must not pass as "no fault"
        raise ValueError(f"BEATPASS_TEST_FAULT {settings.test_fault!r}: point is one of {', '.join(POINTS)}, "
                         f"action one of {', '.join(ACTIONS)}")
    if (want_point, want_sha) != (point, sha256):
        return
    if action == "hang":
        while True:
            pass
    if action == "alloc":
        held = []
        while True:
            held.append(bytearray(_CHUNK))  # zero-filled: the pages are really touched
