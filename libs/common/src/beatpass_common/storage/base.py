"""The object-storage interface every service uses; backends are chosen by URL (see open_store)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol

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

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> PutResult: ...

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


def iter_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def sha256_of(store: ObjectStore, bucket: str, key: str) -> str:
    sha = hashlib.sha256()
    with store.open(bucket, key) as f:
        for chunk in iter_chunks(f):
            sha.update(chunk)
    return sha.hexdigest()
