"""MinIO / S3 object storage through the ``minio`` SDK.

Multipart uploads use the SDK's low-level calls (``_create_multipart_upload`` and friends)
because the tus gateway keeps the upload id and part ETags in its own database, so any replica
can add the next part; ``put_object`` would hide that state inside one process.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import S3Error
from minio.helpers import MAX_PART_SIZE, MIN_PART_SIZE

from .base import HashingReader, ObjectInfo, ObjectNotFound, PutResult

PART_SIZE = 16 * 1024 * 1024
COPY_THREADS = 4  # UploadPartCopy requests of one compose at once
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchObject"}


class _Response(io.RawIOBase):
    """A urllib3 response as a closable stream that also releases the connection."""

    def __init__(self, response):
        self._r = response

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._r.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._r.close()
            self._r.release_conn()
        super().close()


class S3Store:
    def __init__(self, url: str, region: str = "us-east-1", ca_file: str = ""):
        """``ca_file``: PEM bundle that verifies an https:// endpoint (empty: the system's CAs)."""
        parts = urlsplit(url)
        self.client = Minio(
            (parts.hostname or "") + (f":{parts.port}" if parts.port else ""),
            access_key=unquote(parts.username or ""),
            secret_key=unquote(parts.password or ""),
            secure=parts.scheme == "https",
            region=region,
            http_client=urllib3.PoolManager(
                maxsize=16,
                cert_reqs="CERT_REQUIRED",
                ca_certs=ca_file or None,
                timeout=urllib3.Timeout(connect=5, read=120),
                retries=urllib3.Retry(total=3, backoff_factor=0.3, status_forcelist=[500, 502, 503, 504]),
            ),
        )

    def ensure_bucket(self, bucket: str) -> None:
        try:
            if not self.client.bucket_exists(bucket):
                self.client.make_bucket(bucket)
        except S3Error as exc:
            if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def put(self, bucket, key, stream, content_type="application/octet-stream") -> PutResult:
        reader = HashingReader(stream)
        # minio only calls read(); its signature asks for a BinaryIO
        self.client.put_object(
            bucket,
            key,
            reader,  # type: ignore[arg-type]
            length=-1,
            part_size=PART_SIZE,
            content_type=content_type,
        )
        return PutResult(reader.size, reader.sha256)

    def put_bytes(self, bucket, key, data, content_type="application/octet-stream") -> PutResult:
        return self.put(bucket, key, io.BytesIO(data), content_type)

    def open(self, bucket, key, offset=0, length=None) -> BinaryIO:
        try:
            response = self.client.get_object(bucket, key, offset=offset, length=length or 0)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectNotFound(f"{bucket}/{key}") from None
            raise
        return io.BufferedReader(_Response(response), 1024 * 1024)

    def get_bytes(self, bucket, key, offset=0, length=None) -> bytes:
        if length == 0:
            return b""
        with self.open(bucket, key, offset, length) as f:
            return f.read()

    def stat(self, bucket, key) -> ObjectInfo:
        try:
            obj = self.client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectNotFound(f"{bucket}/{key}") from None
            raise
        return ObjectInfo(bucket, key, obj.size or 0, obj.etag, obj.content_type)  # HEAD always has a size

    def exists(self, bucket, key) -> bool:
        try:
            self.stat(bucket, key)
            return True
        except ObjectNotFound:
            return False

    def delete(self, bucket, key) -> None:
        try:
            self.client.remove_object(bucket, key)
        except S3Error as exc:
            if exc.code not in _MISSING:
                raise

    def create_multipart(self, bucket, key, content_type="application/octet-stream") -> str:
        return self.client._create_multipart_upload(bucket, key, {"Content-Type": content_type})

    def upload_part(self, bucket, key, upload_id, part_number, data) -> str:
        return self.client._upload_part(bucket, key, data, None, upload_id, part_number)

    def complete_multipart(self, bucket, key, upload_id, parts) -> None:
        self.client._complete_multipart_upload(bucket, key, upload_id, [Part(n, etag) for n, etag in sorted(parts)])

    def abort_multipart(self, bucket, key, upload_id) -> None:
        try:
            self.client._abort_multipart_upload(bucket, key, upload_id)
        except S3Error as exc:
            if exc.code not in _MISSING:
                raise

    def compose(self, bucket, key, sources, content_type="application/octet-stream") -> None:
        # compose_object's steps (UploadPartCopy parts of one multipart upload), with the parts
        # copied at once instead of one after another: S3 copies them side by side.
        infos = [self.stat(bucket, source) for source in sources]
        if any(info.size < MIN_PART_SIZE for info in infos[:-1]):
            raise ValueError("every source but the last must be at least 5 MiB")
        jobs, number = [], 0
        for source, info in zip(sources, infos, strict=True):
            size = info.size
            for start in range(0, max(size, 1), MAX_PART_SIZE):
                number += 1
                end = min(size, start + MAX_PART_SIZE) - 1
                # the very object measured above, not one written over it since
                headers = {"x-amz-copy-source": quote(f"/{bucket}/{source}"), "x-amz-copy-source-if-match": info.etag}
                if size > MAX_PART_SIZE:
                    headers["x-amz-copy-source-range"] = f"bytes={start}-{end}"
                jobs.append((number, headers))
        upload_id = self.create_multipart(bucket, key, content_type)
        try:
            with ThreadPoolExecutor(min(COPY_THREADS, len(jobs)), thread_name_prefix="compose") as pool:
                etags = list(pool.map(lambda job: self.client._upload_part_copy(bucket, key, upload_id, *job)[0], jobs))
            self.complete_multipart(
                bucket, key, upload_id, [(n, etag) for (n, _), etag in zip(jobs, etags, strict=True)]
            )
        except BaseException:
            self.abort_multipart(bucket, key, upload_id)
            raise
