"""Object storage: one interface (ObjectStore), a local-directory and an S3/MinIO backend."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import CHUNK, ObjectInfo, ObjectNotFound, ObjectStore, PutResult, RangedObject, iter_chunks, sha256_of
from .local import LocalStore
from .s3 import S3Store

__all__ = [
    "CHUNK",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PutResult",
    "RangedObject",
    "S3Store",
    "iter_chunks",
    "open_store",
    "sha256_of",
]


def open_store(url: str, region: str = "us-east-1", ca_file: str = "") -> ObjectStore:
    """``file:///path`` (or ``file://./rel``) for a directory, ``http(s)://KEY:SECRET@host:port`` for S3
    (https verified against ``ca_file`` when set, else the system's CAs)."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return LocalStore(url[len("file://") :])
    if scheme in {"http", "https"}:
        return S3Store(url, region, ca_file)
    raise ValueError(f"unsupported storage URL scheme {scheme!r}")
