"""One storage interface, two backends: the local directory and a real S3 server."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from beatpass_common.storage import LocalStore, ObjectNotFound, open_store, sha256_of

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    s = LocalStore(tmp_path / "objects") if request.param == "local" else open_store(request.getfixturevalue("s3_url"))
    bucket = f"test-{os.urandom(4).hex()}"
    s.ensure_bucket(bucket)
    s.ensure_bucket(bucket)  # idempotent
    return s, bucket


class _Unsized(io.RawIOBase):
    """A stream of unknown length that never hands out more than it is asked for."""

    def __init__(self, data: bytes):
        self._data, self._pos, self.largest_read = data, 0, 0

    def readable(self):
        return True

    def read(self, n=-1):
        n = len(self._data) - self._pos if n is None or n < 0 else n
        self.largest_read = max(self.largest_read, n)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def test_streaming_put_and_ranged_reads(store):
    s, bucket = store
    data = os.urandom(20 * 1024 * 1024 + 11)  # more than one S3 part of 16 MiB
    result = s.put(bucket, "a/b.bin", _Unsized(data))
    assert result.size == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert s.stat(bucket, "a/b.bin").size == len(data)
    assert s.get_bytes(bucket, "a/b.bin", 5, 10) == data[5:15]
    assert s.get_bytes(bucket, "a/b.bin", len(data) - 3) == data[-3:]
    assert sha256_of(s, bucket, "a/b.bin") == result.sha256


def test_missing_objects_and_idempotent_delete(store):
    s, bucket = store
    with pytest.raises(ObjectNotFound):
        s.stat(bucket, "nope")
    with pytest.raises(ObjectNotFound):
        s.open(bucket, "nope")
    assert not s.exists(bucket, "nope")
    s.put_bytes(bucket, "x", b"1")
    s.delete(bucket, "x")
    s.delete(bucket, "x")
    assert not s.exists(bucket, "x")


def test_multipart_with_caller_kept_state(store):
    s, bucket = store
    parts_data = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"tail"]
    upload_id = s.create_multipart(bucket, "mp.bin")
    parts = [(n, s.upload_part(bucket, "mp.bin", upload_id, n, d)) for n, d in enumerate(parts_data, 1)]
    s.complete_multipart(bucket, "mp.bin", upload_id, list(reversed(parts)))
    assert s.get_bytes(bucket, "mp.bin") == b"".join(parts_data)


def test_aborted_multipart_leaves_nothing(store):
    s, bucket = store
    upload_id = s.create_multipart(bucket, "gone.bin")
    s.upload_part(bucket, "gone.bin", upload_id, 1, b"x" * 100)
    s.abort_multipart(bucket, "gone.bin", upload_id)
    s.abort_multipart(bucket, "gone.bin", upload_id)  # idempotent
    assert not s.exists(bucket, "gone.bin")


def test_compose_joins_objects_inside_the_store(store):
    s, bucket = store
    pieces = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024 + 1), b"last"]
    for n, piece in enumerate(pieces):
        s.put_bytes(bucket, f"piece-{n}", piece)
    s.compose(bucket, "joined.bin", ["piece-0", "piece-1", "piece-2"], "audio/wav")
    assert s.get_bytes(bucket, "joined.bin") == b"".join(pieces)
    s.compose(bucket, "joined.bin", ["piece-0", "piece-1", "piece-2"], "audio/wav")  # again: the same object
    assert s.stat(bucket, "joined.bin").size == sum(map(len, pieces))
    with pytest.raises(ObjectNotFound):
        s.compose(bucket, "never.bin", ["piece-0", "missing"])
    assert not s.exists(bucket, "never.bin")


def test_s3_compose_needs_5_mib_sources_but_the_last(s3_url):
    s = open_store(s3_url)
    s.ensure_bucket("compose-small")
    s.put_bytes("compose-small", "small", b"x" * 100)
    with pytest.raises(ValueError):
        s.compose("compose-small", "joined", ["small", "small"])


def test_local_store_refuses_keys_that_escape(tmp_path):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put_bytes("b", "../../etc/passwd", b"x")
