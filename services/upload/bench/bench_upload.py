"""Gateway upload benchmark (printed figures, not a timed test).

1. Throughput: a 512 MiB file through the gateway, against the same bytes put straight into the
   same S3 server with the minio SDK (3 parts at once, its default), as a ratio (goal >= 0.90).
   The gateway is measured as the upload page sends a large file: ``--parts`` partial uploads at
   once (tus concatenation, tuspy in 8 MiB chunks), then the final upload assembled inside S3;
   and, for comparison, as one tus upload sent a chunk at a time.
2. Memory: the gateway's peak RSS while receiving uploads of growing size in parallel parts
   (goal: under 150 MiB and flat in file size), read from the gateway process's own /proc
   status (VmHWM).

The gateway runs as its own process (as deployed), on SQLite and the in-memory bus: only the
upload path is measured. S3 is moto's server unless BEATPASS_BENCH_S3_URL names one.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests
from minio import Minio
from tusclient import client as tus

from beatpass_common.auth import mint_dev_token
from beatpass_common.config import Settings
from beatpass_common.testing import infra

MiB = 1024 * 1024


def _file(directory: Path, size: int) -> Path:
    path = directory / f"data-{size}.bin"
    if not path.exists():
        block = os.urandom(8 * MiB)
        with open(path, "wb") as f:
            for _ in range(size // len(block)):
                f.write(block)
            f.write(block[: size % len(block)])
    return path


def _gateway(env: dict, port: int, log: Path) -> subprocess.Popen:
    """The gateway as deployed: gunicorn, one threaded worker (so its RSS is the worker's)."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn, "-c", "python:beatpass_upload.gunicorn_conf", "beatpass_upload.wsgi:app"],
        env={**env, "BEATPASS_HTTP_PORT": str(port), "BEATPASS_GUNICORN_WORKERS": "1"},
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"gateway did not start; see {log}")


def _hwm_mib(pid: int) -> float:
    """Peak RSS of gunicorn's worker (the child of the arbiter ``pid``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class _Slice(io.RawIOBase):
    """Bytes [start, start + size) of a file as a seekable stream of their own (for tuspy)."""

    def __init__(self, path: Path, start: int, size: int):
        self._f, self._start, self._size, self._pos = open(path, "rb"), start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence] + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


def _tus_upload(url: str, token: str, path: Path) -> float:
    """One tus upload, a chunk at a time; seconds."""
    client = tus.TusClient(f"{url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    client.uploader(str(path), chunk_size=8 * MiB).upload()
    return time.perf_counter() - started


def _parallel_upload(url: str, token: str, path: Path, parts: int) -> tuple[float, float]:
    """``parts`` partial uploads at once (equal slices, as tus-js-client's parallelUploads cuts
    them), then the final upload; seconds in all (the final's assembly included), and of the
    final's request alone."""
    size = path.stat().st_size
    bounds = [(i * (size // parts), size // parts + (size % parts if i == parts - 1 else 0)) for i in range(parts)]
    auth = {"Authorization": f"Bearer {token}"}

    def partial(bound: tuple[int, int]) -> str:
        client = tus.TusClient(f"{url}/api/v1/uploads", headers={**auth, "Upload-Concat": "partial"})
        with _Slice(path, *bound) as stream:
            uploader = client.uploader(file_stream=stream, chunk_size=8 * MiB)
            uploader.upload()
        return uploader.url

    started = time.perf_counter()
    with ThreadPoolExecutor(parts) as pool:
        urls = list(pool.map(partial, bounds))
    final_started = time.perf_counter()
    r = requests.post(
        f"{url}/api/v1/uploads",
        timeout=600,
        headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Concat": "final;" + " ".join(urls)},
    )
    done = time.perf_counter()
    if r.status_code != 201 or r.headers["Upload-Offset"] != str(size):
        raise RuntimeError(f"final upload: {r.status_code} {r.text}")
    return done - started, done - final_started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="size of the throughput file")
    parser.add_argument("--rss-mib", type=int, nargs="+", default=[256, 2048], help="sizes for the memory runs")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each way (best counts)")
    parser.add_argument("--part-buffers", type=int, help="the gateway's upload_part_buffers (default: the setting's)")
    parser.add_argument("--parts", type=int, default=4, help="partial uploads at once (the page's parallelUploads)")
    args = parser.parse_args()

    s3 = os.environ.get("BEATPASS_BENCH_S3_URL")
    moto = None if s3 else infra.MotoServer()
    s3 = s3 or moto.url
    work = Path(tempfile.mkdtemp(prefix="beatpass-bench-upload-"))
    secret = "bench-" + "s" * 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEATPASS_")}
    env.update(
        {
            "MALLOC_ARENA_MAX": "2",  # as the image sets it
            "BEATPASS_STORAGE_URL": s3,
            "BEATPASS_VAR_DIR": str(work / "var"),
            "BEATPASS_JWT_SECRET": secret,
            "BEATPASS_URL_SIGNING_SECRET": "bench-urls",
            "BEATPASS_INTERNAL_API_SECRET": "bench-internal",
            "BEATPASS_UPLOAD_PART_BYTES": str(8 * MiB),
            "BEATPASS_MAX_UPLOAD_BYTES": str(3 * 1024 * MiB),
        }
    )
    if args.part_buffers:
        env["BEATPASS_UPLOAD_PART_BUFFERS"] = str(args.part_buffers)
    token = mint_dev_token(Settings(jwt_secret=secret), "bench")
    port = infra.free_port()
    try:
        data = _file(work, args.mib * MiB)
        parts = urlsplit(s3)
        client = Minio(
            f"{parts.hostname}:{parts.port}", access_key=parts.username, secret_key=parts.password, secure=False
        )
        client.make_bucket("bench-direct")

        def direct_put() -> float:
            started = time.perf_counter()
            with open(data, "rb") as f:  # the SDK's defaults: 3 parts at once
                client.put_object("bench-direct", "direct.bin", f, length=data.stat().st_size, part_size=8 * MiB)
            return time.perf_counter() - started

        url = f"http://127.0.0.1:{port}"
        times: dict[str, list] = {"direct": [], "parallel": [], "single": []}
        gateway = _gateway(env, port, work / "gateway.log")
        try:
            for _ in range(args.repeats):  # interleaved: the machine's load hits all three alike
                times["direct"].append(direct_put())
                times["parallel"].append(_parallel_upload(url, token, data, args.parts))
                times["single"].append(_tus_upload(url, token, data))
        finally:
            gateway.terminate()
            gateway.wait(30)
        direct, (parallel, assembly), single = (min(times[k]) for k in ("direct", "parallel", "single"))
        size_mib = data.stat().st_size / MiB
        print(f"upload throughput, {args.mib} MiB (8 MiB chunks and parts; best of {args.repeats} interleaved):")
        print(
            f"  gateway, {args.parts} partial uploads at once + final: {size_mib / parallel:7.1f} MiB/s ({parallel:.2f} s, "
            f"of which the final's assembly in S3 {assembly:.2f} s)"
        )
        print(f"  gateway, one tus upload:                {size_mib / single:7.1f} MiB/s ({single:.2f} s)")
        print(f"  direct (minio SDK put_object):          {size_mib / direct:7.1f} MiB/s ({direct:.2f} s)")
        print(
            f"  ratio gateway/direct: {direct / parallel:.2f} in parallel parts (goal >= 0.90); "
            f"{direct / single:.2f} as one tus upload"
        )
        data.unlink()

        print(f"gateway peak RSS while receiving one upload in {args.parts} parallel parts (fresh process each):")
        for mib in args.rss_mib:
            path = _file(work, mib * MiB)
            gateway = _gateway(env, port, work / "gateway.log")
            try:
                idle = _hwm_mib(gateway.pid)
                elapsed, _ = _parallel_upload(f"http://127.0.0.1:{port}", token, path, args.parts)
                peak = _hwm_mib(gateway.pid)
            finally:
                gateway.terminate()
                gateway.wait(30)
            path.unlink()
            print(
                f"  {mib:5d} MiB: peak {peak:6.1f} MiB (idle {idle:5.1f} MiB), {mib / elapsed:6.1f} MiB/s "
                f"(goal < 150 MiB, flat in size)"
            )
    finally:
        if moto:
            moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
