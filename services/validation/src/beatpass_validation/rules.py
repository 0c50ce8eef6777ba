"""Validation's rules: the audio and artwork rules shared with the upload gateway
(``beatpass_common.media_rules``, re-exported here) and the warning validation gives when the
estimate runs out of time (the BPM warning is ``beatpass_common.bpm``, shared with the catalog).
"""

from __future__ import annotations

from beatpass_common.events import Problem
from beatpass_common.media_rules import *  # noqa: F403 - one set of sentences for both services

BPM = "bpm"


def estimate_skipped() -> Problem:
    return Problem(
        code="ESTIMATE_SKIPPED",
        field=BPM,
        message="We could not estimate the BPM and key of this file in time; check them before publishing.",
    )
