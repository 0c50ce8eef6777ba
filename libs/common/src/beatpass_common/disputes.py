"""The rule for a duplicate dispute's reason: the catalog enforces it, the gateway publishes it in
``GET /api/v1/rules`` so the upload page says the same sentence before sending anything."""

from __future__ import annotations

REASON_MIN = 3
REASON_MAX = 2000
REASON_REQUIRED = f"Tell us why this is not a duplicate ({REASON_MIN} to {REASON_MAX} characters)."


def reason_ok(reason) -> bool:
    """A text of REASON_MIN..REASON_MAX characters once trimmed."""
    return isinstance(reason, str) and REASON_MIN <= len(reason.strip()) <= REASON_MAX
