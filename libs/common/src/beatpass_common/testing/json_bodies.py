"""Hypothesis strategies for what a careless or hostile client puts in a JSON body, and what
the gateway must refuse before any field rule (a NUL character: docs/api-limits.md)."""

from __future__ import annotations

from hypothesis import strategies as st

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
# Any JSON value: scalars, lists and objects nested a little (at most 6 leaves).
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def has_nul(value) -> bool:
    """Whether a NUL character is in any key or text of the parsed JSON ``value`` (such a body is
    400 ``BODY_TEXT_INVALID``)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(has_nul(v) for v in value)
