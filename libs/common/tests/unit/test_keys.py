"""Object keys: one builder, one alphabet; the local store refuses keys that leave their bucket."""

import pytest

from beatpass_common import keys
from beatpass_common.keys import InvalidKey
from beatpass_common.storage import LocalStore

HOSTILE = ["../../beatpass-media/x", "a/../b", "a/b", "p\x00", "..", ".", "", "-x", "a..b", "x" * 129, "é", "a\\b"]


@pytest.mark.parametrize("segment", HOSTILE)
def test_every_builder_refuses_segments_outside_the_alphabet(segment):
    with pytest.raises(InvalidKey):
        keys.object_key("tracks", segment)
    with pytest.raises(InvalidKey):
        keys.upload_key(segment, "0" * 32)
    with pytest.raises(InvalidKey):
        keys.media_key("tracks", segment, "waveform.png")
    with pytest.raises(InvalidKey):
        keys.tail_key(keys.upload_key("p1", "0" * 32), segment)


def test_keys_have_the_documented_shapes():
    assert keys.upload_key("p1", "ab12") == "producers/p1/uploads/ab12"
    assert keys.tail_key("producers/p1/uploads/ab12", "0f0f") == "producers/p1/uploads/ab12.tail-0f0f"
    assert keys.media_key("collections", "c1", "cover-300.jpg") == "collections/c1/cover-300.jpg"
    with pytest.raises(InvalidKey):
        keys.media_key("producers", "p1", "x")
    with pytest.raises(InvalidKey):
        keys.upload_key("x" * 65, "ab12")  # producer ids are at most 64 characters


@pytest.mark.parametrize("key", ["../other/x", "../../etc/passwd", "a/../../other/x", "/abs/x", "a\x00b"])
def test_local_store_refuses_keys_leaving_their_bucket(tmp_path, key):
    store = LocalStore(tmp_path / "objects")
    store.ensure_bucket("uploads")
    store.ensure_bucket("other")
    with pytest.raises(InvalidKey):
        store.put_bytes("uploads", key, b"x")
    for method in (store.open, store.stat, store.exists, store.delete):
        with pytest.raises(InvalidKey):
            method("uploads", key)
    assert not any((tmp_path / "objects" / "other").iterdir())


@pytest.mark.parametrize("bucket", ["..", ".", "", "a/b", "a\x00"])
def test_local_store_refuses_bucket_names_that_are_paths(tmp_path, bucket):
    with pytest.raises(InvalidKey):
        LocalStore(tmp_path / "objects").put_bytes(bucket, "x", b"x")
