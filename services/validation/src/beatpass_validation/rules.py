"""Validation's rules: the audio and artwork rules shared with the upload gateway
(``beatpass_common.media_rules``, re-exported here) and the tempo warnings only validation gives.
"""

from __future__ import annotations

from beatpass_common import bpm
from beatpass_common.events import Problem
from beatpass_common.media_rules import *  # noqa: F403 - one set of sentences for both services

BPM = "bpm"


# The BPM warning is shared with the catalog, which warns again when the producer edits the BPM.
bpm_mismatch = bpm.mismatch
bpm_agrees = bpm.agrees


def estimate_skipped() -> Problem:
    return Problem(code="ESTIMATE_SKIPPED", field=BPM,
                   message="We could not estimate the BPM and key of this file in time; "
                           "check them before publishing.")


