"""Byte ranges of the audio route (ranges.py): RFC 9110's single-range cases, and whatever a
client sends is a range inside the file, the whole file, or 416 (never anything else)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beatpass_upload.ranges import ByteRange, Unsatisfiable, requested

LENGTH = 1000


@pytest.mark.parametrize(
    "header, expected",
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=500-", ByteRange(500, 999)),  # open: to the end
        ("bytes=-300", ByteRange(700, 999)),  # suffix: the last 300 bytes
        ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the file is the whole file
        ("bytes=900-5000", ByteRange(900, 999)),  # past the end: cut at the end
        ("bytes=0-9999999999999999999", ByteRange(0, 999)),
        ("Bytes = 1-2", ByteRange(1, 2)),
        ("bytes=999-", ByteRange(999, 999)),
    ],
)
def test_one_range_is_served_as_asked(header, expected):
    assert requested(header, LENGTH) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "bytes=0-1,5-9",
        "bytes=0-5, 7-",  # several ranges: the whole file
        "items=0-5",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=5-3",
        "bytes=1-2-3",
        "bytes=٣-5",
        "bytes=+1-2",
        "bytes=0-99999999999999999999",  # 20 digits: not a number this server reads
    ],
)
def test_anything_else_is_the_whole_file(header):
    assert requested(header, LENGTH) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_outside_the_file_is_unsatisfiable(header):
    with pytest.raises(Unsatisfiable):
        requested(header, LENGTH)


def test_if_range_must_name_the_current_etag():
    assert requested("bytes=0-9", LENGTH, if_range='"abc"', etag='"abc"') == ByteRange(0, 9)
    assert requested("bytes=0-9", LENGTH, if_range='"old"', etag='"abc"') is None
    assert requested("bytes=0-9", LENGTH, if_range="Wed, 21 Oct 2015 07:28:00 GMT", etag='"abc"') is None


def test_content_range():
    assert ByteRange(700, 999).content_range(LENGTH) == "bytes 700-999/1000"
    assert ByteRange(700, 999).length == 300


@settings(max_examples=500, deadline=None)
@given(
    header=st.one_of(st.text(max_size=60), st.from_regex(r"(?i)bytes\s*=\s*[0-9,\- ]{0,30}", fullmatch=True)),
    length=st.integers(0, 10**12),
)
def test_any_header_gives_a_range_inside_the_file_the_whole_file_or_unsatisfiable(header, length):
    try:
        wanted = requested(header, length)
    except Unsatisfiable:
        return
    assert wanted is None or 0 <= wanted.start <= wanted.end < length
