"""Object storage in a local directory: the embedded default, same behaviour as S3 for our use."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from ..keys import InvalidKey
from .base import CHUNK, HashingReader, ObjectInfo, ObjectNotFound, PutResult, iter_chunks


class _RangeReader(io.RawIOBase):
    def __init__(self, f: BinaryIO, length: int | None):
        self._f, self._left = f, length

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = len(b) if self._left is None else min(len(b), self._left)
        data = self._f.read(n)
        b[: len(data)] = data
        if self._left is not None:
            self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, bucket: str, key: str) -> Path:
        """The file of ``bucket/key``; InvalidKey for a bucket or key that would leave its folder
        (``..``, absolute, NUL) even where S3 would take it as a literal name."""
        if "\0" in bucket or "\0" in key or not bucket or "/" in bucket or bucket in {".", ".."}:
            raise InvalidKey(f"not a bucket and key of this store: {bucket!r}, {key!r}")
        folder = (self.root / bucket).resolve()
        path = (folder / key).resolve()
        if folder not in path.parents:
            raise InvalidKey(f"key escapes its bucket: {key!r}")
        return path

    def _mp_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ValueError("bad multipart upload id")
        return self.root / ".multipart" / upload_id

    def ensure_bucket(self, bucket: str) -> None:
        (self.root / bucket).mkdir(parents=True, exist_ok=True)

    def _write_atomically(self, path: Path, chunks) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, bucket, key, stream, content_type="application/octet-stream") -> PutResult:
        reader = HashingReader(stream)
        self._write_atomically(self._path(bucket, key), iter_chunks(reader))
        return PutResult(reader.size, reader.sha256)

    def put_bytes(self, bucket, key, data, content_type="application/octet-stream") -> PutResult:
        return self.put(bucket, key, io.BytesIO(data), content_type)

    def open(self, bucket, key, offset=0, length=None) -> BinaryIO:
        try:
            f = open(self._path(bucket, key), "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"{bucket}/{key}") from None
        f.seek(offset)
        if length is None:
            return f
        return io.BufferedReader(_RangeReader(f, length), CHUNK)

    def get_bytes(self, bucket, key, offset=0, length=None) -> bytes:
        with self.open(bucket, key, offset, length) as f:
            return f.read()

    def stat(self, bucket, key) -> ObjectInfo:
        try:
            size = self._path(bucket, key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"{bucket}/{key}") from None
        return ObjectInfo(bucket, key, size)

    def exists(self, bucket, key) -> bool:
        return self._path(bucket, key).is_file()

    def delete(self, bucket, key) -> None:
        self._path(bucket, key).unlink(missing_ok=True)

    def create_multipart(self, bucket, key, content_type="application/octet-stream") -> str:
        upload_id = uuid.uuid4().hex
        self._mp_dir(upload_id).mkdir(parents=True)
        return upload_id

    def upload_part(self, bucket, key, upload_id, part_number, data) -> str:
        d = self._mp_dir(upload_id)
        if not d.is_dir():
            raise ObjectNotFound(f"multipart upload {upload_id}")
        self._write_atomically(d / f"{part_number:05d}", [data])
        return f"{part_number}-{len(data)}"

    def complete_multipart(self, bucket, key, upload_id, parts) -> None:
        d = self._mp_dir(upload_id)

        def chunks():
            for number, _etag in sorted(parts):
                with open(d / f"{number:05d}", "rb") as f:
                    yield from iter_chunks(f)

        self._write_atomically(self._path(bucket, key), chunks())
        shutil.rmtree(d, ignore_errors=True)

    def abort_multipart(self, bucket, key, upload_id) -> None:
        shutil.rmtree(self._mp_dir(upload_id), ignore_errors=True)

    def compose(self, bucket, key, sources, content_type="application/octet-stream") -> None:
        paths = [self._path(bucket, source) for source in sources]
        for path in paths:
            if not path.is_file():
                raise ObjectNotFound(f"{bucket}/{path.name}")

        def chunks():
            for path in paths:
                with open(path, "rb") as f:
                    yield from iter_chunks(f)

        self._write_atomically(self._path(bucket, key), chunks())
