"""Validation's rules: the audio and artwork rules shared with the upload gateway
(``beatpass_common.media_rules``, re-exported here) and the tempo warnings only validation gives.
"""

from __future__ import annotations

from beatpass_common.events import Problem
from beatpass_common.media_rules import *  # noqa: F403 - one set of sentences for both services

BPM = "bpm"


def bpm_mismatch(declared: int, estimated: float) -> Problem:
    return Problem(code="BPM_MISMATCH", field=BPM,
                   message=f"You entered {declared} BPM, but the audio sounds like about {estimated:.0f} BPM. "
                           "Check the BPM before publishing.")


def estimate_skipped() -> Problem:
    return Problem(code="ESTIMATE_SKIPPED", field=BPM,
                   message="We could not estimate the BPM and key of this file in time; "
                           "check them before publishing.")


def bpm_agrees(declared: int, estimated: float, tolerance: float = 0.04) -> bool:
    """Half and double time count as agreeing: producers count either way."""
    return any(abs(declared - estimated * m) <= max(2.0, tolerance * estimated * m) for m in (0.5, 1.0, 2.0))

