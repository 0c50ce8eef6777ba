"""The fingerprint service's own metrics, handed to its handler as a dependency (service.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from beatpass_common.events import DuplicateMatch

RESULTS = Counter(
    "beatpass_fingerprint_results_total", "Fingerprint results by decision and match kind", ["decision", "kind"]
)
AUDIO_SECONDS = Counter("beatpass_fingerprint_audio_seconds_total", "Seconds of audio fingerprinted")
LOOKUP_SECONDS = Histogram(
    "beatpass_fingerprint_lookup_seconds",
    "Duplicate lookup and verification, under the content locks",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


@dataclass(frozen=True)
class FingerprintMetrics:
    """``lookup`` times the lookup (a context manager); ``fingerprinted`` counts a committed result."""

    lookup: Histogram = LOOKUP_SECONDS

    def fingerprinted(self, duration_s: float, duplicate: DuplicateMatch | None) -> None:
        """One track's audio fingerprinted (seconds) and its result (decision and match kind)."""
        AUDIO_SECONDS.inc(duration_s)
        RESULTS.labels(duplicate.decision if duplicate else "distinct", duplicate.kind if duplicate else "none").inc()
