"""Benchmark: what the hard limits cost. Save -> ready of a 3-minute WAV through the three
workers' handlers, with the heavy work in supervised child processes (``handler_isolation`` true)
and in the worker process (false), both measured in this run, alternating.

One pass = validation (required checks, then the BPM/key estimate), then waveform and fingerprint
at the same time (two threads, as their separate workers would run them), each with its own
runner as deployed. Objects go through a local store, the fingerprint index through SQLite; the
bus is left out (it is the same in both modes). The first pass of each mode is a warm-up (child
start-up, imports, numba compilation: paid once per worker) and is not counted.

    .venv/bin/python services/validation/bench/bench_isolation.py [--runs 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import struct
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from beatpass_common.config import Settings
from beatpass_common.db import open_database
from beatpass_common.events import Event, ObjectRef, TrackMetadata, TrackSubmitted, new_event
from beatpass_common.isolation import Runner, child_store
from beatpass_common.outbox import Outbox
from beatpass_fingerprint import service as fingerprint_service
from beatpass_fingerprint.handlers import handle_track_validated as fingerprint
from beatpass_fingerprint.metrics import FingerprintMetrics
from beatpass_fingerprint.models import OutboxEvent
from beatpass_validation import service as validation_service
from beatpass_validation.handlers import handle_track_submitted as validate
from beatpass_waveform.handlers import handle_track_validated as draw

RATE, CHANNELS, BYTES, MINUTES = 44_100, 2, 3, 3.0
METADATA = TrackMetadata(title="Bench", artists=["Kay"], bpm=120, key="A", scale="minor", licensing="non_exclusive")


def wav_bytes(minutes: float) -> bytes:
    """A beat-like 24-bit stereo WAV (120 BPM kick over a tone), random enough to fingerprint."""
    t = np.arange(int(minutes * 60 * RATE)) / RATE
    beat = t % 0.5
    rng = np.random.default_rng(7)
    mono = (
        0.3 * np.sin(2 * np.pi * 220 * t)
        + 0.5 * np.sin(2 * np.pi * 60 * beat) * np.exp(-beat * 30)
        + 0.05 * rng.standard_normal(len(t))
    )
    ints = np.round(np.repeat(mono[:, None], CHANNELS, axis=1) * 0.5 * 2**23).astype("<i4")
    data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    fmt = struct.pack("<HHIIHH", 1, CHANNELS, RATE, RATE * CHANNELS * BYTES, CHANNELS * BYTES, 24)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 24 + 8 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def cover_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1200, 1200), (200, 30, 60)).save(buf, "JPEG")
    return buf.getvalue()


class Platform:
    """The three workers' handlers and dependencies in one mode."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = child_store(settings)
        for bucket in (settings.uploads_bucket, settings.media_bucket):
            self.store.ensure_bucket(bucket)
        self.runners = {
            "validation": Runner.from_settings(settings, preload=validation_service.PRELOAD),
            "waveform": Runner.from_settings(settings, preload=("beatpass_waveform.outputs",)),
            "fingerprint": Runner.from_settings(settings, preload=("beatpass_fingerprint.chroma",)),
        }
        self.factory = open_database(settings.database_url("fingerprint"), fingerprint_service.MIGRATIONS)
        self.fingerprinted: list[Event] = []
        self.outbox = Outbox(OutboxEvent, self.factory, self.fingerprinted.append, settings.outbox_poll_s)

    def save_to_ready(self, audio: ObjectRef, cover: ObjectRef, track_id: str) -> float:
        submitted = new_event(
            "track.submitted",
            TrackSubmitted(audio=audio, cover=cover, metadata=METADATA),
            producer_id="p1",
            track_id=track_id,
        )
        started = time.perf_counter()
        validated: list[Event] = []
        validate(submitted, publish=validated.append, settings=self.settings, runner=self.runners["validation"])
        (event,) = validated
        assert event.type == "track.validated", event.data
        drawn: list[Event] = []
        with ThreadPoolExecutor(2) as pool:
            waveform = pool.submit(
                draw, event, publish=drawn.append, settings=self.settings, runner=self.runners["waveform"]
            )
            printed = pool.submit(
                fingerprint,
                event,
                runner=self.runners["fingerprint"],
                session_factory=self.factory,
                outbox=self.outbox,
                settings=self.settings,
                metrics=FingerprintMetrics(),
            )
            waveform.result(), printed.result()
        self.outbox.relay_once()
        elapsed = time.perf_counter() - started
        assert [e.type for e in drawn] == ["waveform.generated"] and self.fingerprinted
        return elapsed

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="counted passes per mode (after one warm-up)")
    parser.add_argument("--minutes", type=float, default=MINUTES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        platforms = {
            isolated: Platform(
                Settings(var_dir=Path(tmp) / ("isolated" if isolated else "inline"), handler_isolation=isolated)
            )
            for isolated in (True, False)
        }
        audio_bytes, cover = wav_bytes(args.minutes), cover_bytes()
        print(
            f"file: {args.minutes:g} min, 44.1 kHz / 24-bit stereo, {len(audio_bytes) / 2**20:,.0f} MiB; "
            f"{args.runs} counted passes per mode after one warm-up",
            flush=True,
        )
        refs = {}
        for isolated, platform in platforms.items():
            s = platform.settings
            put = platform.store.put_bytes(s.uploads_bucket, "bench.wav", audio_bytes)
            art = platform.store.put_bytes(s.uploads_bucket, "cover.jpg", cover)
            refs[isolated] = (
                ObjectRef(bucket=s.uploads_bucket, key="bench.wav", size=put.size, sha256=put.sha256),
                ObjectRef(bucket=s.uploads_bucket, key="cover.jpg", size=art.size, sha256=art.sha256),
            )
        times: dict[bool, list[float]] = {True: [], False: []}
        try:
            for run in range(args.runs + 1):
                for isolated in (True, False) if run % 2 else (False, True):  # alternate who goes first
                    seconds = platforms[isolated].save_to_ready(*refs[isolated], track_id=f"t{run}")
                    if run:
                        times[isolated].append(seconds)
                    else:
                        print(f"warm-up ({'isolated' if isolated else 'in-process'}): {seconds:.2f} s", flush=True)
        finally:
            for platform in platforms.values():
                platform.close()
    inline, isolated = statistics.median(times[False]), statistics.median(times[True])
    print(
        f"save -> ready, in-process (handler_isolation=false): p50 {inline:.2f} s  "
        f"({', '.join(f'{t:.2f}' for t in times[False])})"
    )
    print(
        f"save -> ready, isolated   (handler_isolation=true):  p50 {isolated:.2f} s  "
        f"({', '.join(f'{t:.2f}' for t in times[True])})"
    )
    print(f"cost of isolation, p50 isolated / in-process: {isolated / inline:.3f} (goal <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
