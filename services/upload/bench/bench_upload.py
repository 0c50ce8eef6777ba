"""Gateway upload benchmark (printed figures, not a timed test).

1. Throughput: a 512 MiB file through the gateway with tuspy in 8 MiB chunks, against the same
   bytes put straight into the same S3 server with the minio SDK, as a ratio (goal >= 0.8).
2. Memory: the gateway's peak RSS while receiving uploads of growing size (goal: under 150 MiB
   and flat in file size), read from the gateway process's own /proc status (VmHWM).

The gateway runs as its own process (as deployed), on SQLite and the in-memory bus: only the
upload path is measured. S3 is moto's server unless BEATPASS_BENCH_S3_URL names one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def _tus_upload(url: str, token: str, path: Path) -> float:
    client = tus.TusClient(f"{url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    client.uploader(str(path), chunk_size=8 * MiB).upload()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="size of the throughput file")
    parser.add_argument("--rss-mib", type=int, nargs="+", default=[256, 2048], help="sizes for the memory runs")
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
    token = mint_dev_token(Settings(jwt_secret=secret), "bench")
    port = infra.free_port()
    try:
        data = _file(work, args.mib * MiB)
        gateway = _gateway(env, port, work / "gateway.log")
        try:
            through_gateway = _tus_upload(f"http://127.0.0.1:{port}", token, data)
        finally:
            gateway.terminate()
            gateway.wait(30)
        from urllib.parse import urlsplit

        parts = urlsplit(s3)
        client = Minio(
            f"{parts.hostname}:{parts.port}", access_key=parts.username, secret_key=parts.password, secure=False
        )
        client.make_bucket("bench-direct")
        direct = {}
        for parallel in (3, 1):  # the SDK's default, and one part at a time as a tus client sends them
            started = time.perf_counter()
            with open(data, "rb") as f:
                client.put_object(
                    "bench-direct",
                    f"direct-{parallel}.bin",
                    f,
                    length=data.stat().st_size,
                    part_size=8 * MiB,
                    num_parallel_uploads=parallel,
                )
            direct[parallel] = time.perf_counter() - started
        size_mib = data.stat().st_size / MiB
        print(f"upload throughput, {args.mib} MiB in 8 MiB chunks:")
        print(
            f"  gateway (tuspy -> gateway -> S3):      {size_mib / through_gateway:7.1f} MiB/s ({through_gateway:.2f} s)"
        )
        print(f"  direct  (minio SDK, 3 parts at once):  {size_mib / direct[3]:7.1f} MiB/s ({direct[3]:.2f} s)")
        print(f"  direct  (minio SDK, 1 part at a time): {size_mib / direct[1]:7.1f} MiB/s ({direct[1]:.2f} s)")
        print(
            f"  ratio gateway/direct: {direct[3] / through_gateway:.2f} (goal >= 0.80); "
            f"against one part at a time: {direct[1] / through_gateway:.2f}"
        )
        data.unlink()

        print("gateway peak RSS while receiving one upload (fresh process each):")
        for mib in args.rss_mib:
            path = _file(work, mib * MiB)
            gateway = _gateway(env, port, work / "gateway.log")
            try:
                idle = _hwm_mib(gateway.pid)
                elapsed = _tus_upload(f"http://127.0.0.1:{port}", token, path)
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
