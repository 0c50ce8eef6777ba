"""The object-storage interface every service uses; backends are chosen by URL (see open_store)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024


class ObjectNotFound(KeyError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class PutResult:
    size: int
    sha256: str


class ObjectStore(Protocol):
    def ensure_bucket(self, bucket: str) -> None: ...

    def put(self, bucket: str, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> PutResult:
        """Stream ``stream`` to the object without holding it whole; returns size and sha256."""

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> PutResult: ...

    def open(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """A readable stream of the object (or of a byte range); close it when done."""

    def get_bytes(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """Raise ObjectNotFound when missing."""

    def exists(self, bucket: str, key: str) -> bool: ...

    def delete(self, bucket: str, key: str) -> None:
        """Delete; a missing object is not an error (deletes are idempotent)."""

    # Multipart, with state kept by the caller so any replica can continue an upload.
    def create_multipart(self, bucket: str, key: str, content_type: str = "application/octet-stream") -> str: ...

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        """Upload one part (1-based number); returns its ETag."""

    def complete_multipart(self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None: ...

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...

    def compose(
        self, bucket: str, key: str, sources: list[str], content_type: str = "application/octet-stream"
    ) -> None:
        """Write ``key`` as the objects ``sources`` (keys in ``bucket``) one after another, inside
        the storage (S3: a multipart upload of UploadPartCopy parts; nothing passes through the
        caller). On S3 every source but the last must be at least 5 MiB (ValueError otherwise);
        a missing source raises ObjectNotFound. Writing the same ``key`` again gives the same object."""


class Readable(Protocol):
    """What reads a stream in chunks needs of it: a file, a response body, a HashingReader."""

    def read(self, size: int = -1, /) -> bytes: ...


class HashingReader:
    """Wraps a stream, counting and hashing what passes through."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.size = 0
        self._sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.size += len(data)
        self._sha.update(data)
        return data

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class RangedObject(io.RawIOBase):
    """A seekable, read-only view of an object that fetches what is read by ranged GETs: for
    looking at headers without downloading the rest (wrap in io.BufferedReader)."""

    def __init__(self, store: ObjectStore, bucket: str, key: str, size: int):
        self._store, self._bucket, self._key, self._size, self._pos = store, bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._store.get_bytes(self._bucket, self._key, self._pos, n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def iter_chunks(stream: Readable, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def sha256_of(store: ObjectStore, bucket: str, key: str) -> str:
    sha = hashlib.sha256()
    with store.open(bucket, key) as f:
        for chunk in iter_chunks(f):
            sha.update(chunk)
    return sha.hexdigest()
