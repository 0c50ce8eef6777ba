"""The BPM warning: the producer's BPM against the tempo validation estimated from the audio.

One rule for two services: validation warns when it measures the audio, and the catalog warns
again (or stops warning) when the producer edits the BPM afterwards, with the same sentence.
"""

from __future__ import annotations

from .events import AudioFacts, Problem

# Under this confidence the tempo estimate is too weak to second-guess the producer.
MIN_CONFIDENCE = 0.3
CODE = "BPM_MISMATCH"


def agrees(declared: int, estimated: float, tolerance: float = 0.04) -> bool:
    """Half and double time count as agreeing: producers count either way."""
    return any(abs(declared - estimated * m) <= max(2.0, tolerance * estimated * m) for m in (0.5, 1.0, 2.0))


def mismatch(declared: int, estimated: float) -> Problem:
    return Problem(
        code=CODE,
        field="bpm",
        message=f"You entered {declared} BPM, but the audio sounds like about {estimated:.0f} BPM. "
        "Check the BPM before publishing.",
    )


def warnings(declared: int, facts: AudioFacts) -> list[Problem]:
    """[the mismatch warning] when a confident estimate disagrees with ``declared``, else []."""
    if facts.estimated_bpm is None or (facts.bpm_confidence or 0) < MIN_CONFIDENCE:
        return []
    return [] if agrees(declared, facts.estimated_bpm) else [mismatch(declared, facts.estimated_bpm)]


def refreshed(current: list[dict], declared: int | None, facts: dict | None) -> list[dict]:
    """``current`` warnings (Problem dicts) with the BPM warning judged again for ``declared``
    against ``facts`` (an AudioFacts dict); unchanged while there are no facts or no BPM."""
    if not facts or not declared:
        return current
    others = [w for w in current or [] if w.get("code") != CODE]
    return others + [p.model_dump(mode="json") for p in warnings(declared, AudioFacts.model_validate(facts))]
