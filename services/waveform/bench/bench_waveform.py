"""Waveform benchmark: printed figures, measured side by side in one run.

1. Speed: producing JSON + .dat + PNG for a 5-minute 44.1 kHz/16-bit stereo WAV, as a ratio to only
   decoding that file with soundfile, block by block. Goal: <= 1.5. Printed against soundfile's
   default decode (float64) and against float32 and int16 decodes; int16 is the hardest baseline,
   since for 16-bit PCM it is little more than a copy of the file. Every variant is timed several
   times, interleaved, and the best run of each counts.
2. Memory: peak RSS (ru_maxrss) of a fresh process generating the waveform of a 5-minute and of a
   20-minute file. Goal: equal within 20 MiB.

Usage: python services/waveform/bench/bench_waveform.py [--runs N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from beatpass_waveform.options import WaveformOptions
from beatpass_waveform.outputs import generate

RATE = 44_100
WRITE_SECONDS = 10  # the test file is written in 10-second pieces, so writing it is flat too


def write_track(path: Path, minutes: int) -> None:
    rng = np.random.default_rng(minutes)
    with soundfile.SoundFile(path, "w", RATE, 2, subtype="PCM_16", format="WAV") as out:
        for piece in range(minutes * 60 // WRITE_SECONDS):
            t = (np.arange(RATE * WRITE_SECONDS) + piece * RATE * WRITE_SECONDS) / RATE
            envelope = 0.5 + 0.4 * np.sin(2 * np.pi * t / 7)
            tone = envelope * np.sin(2 * np.pi * 110 * t)
            noise = rng.normal(0, 0.05, (len(t), 2))
            out.write((tone[:, None] + noise).clip(-1, 1))


DECODES = ("float64", "float32", "int16")  # soundfile's default first


def decoder(dtype: str):
    def decode_only(path: Path) -> None:
        for _block in soundfile.blocks(path, blocksize=64 * 1024, dtype=dtype):
            pass
    return decode_only


def produce(path: Path) -> int:
    with open(path, "rb") as stream:
        _spp, outputs = generate(stream, WaveformOptions())
    return sum(len(o.body) for o in outputs)


def timed(fn, path: Path) -> float:
    started = time.perf_counter()
    fn(path)
    return time.perf_counter() - started


def peak_rss_mib(path: Path) -> float:
    """Run one generation in a fresh interpreter and return its peak RSS."""
    out = subprocess.run([sys.executable, __file__, "--rss-of", str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["max_rss_kib"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--rss-of", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        produce(args.rss_of)
        print(json.dumps({"max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
        return

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        five, twenty = Path(tmp) / "5min.wav", Path(tmp) / "20min.wav"
        write_track(five, 5)
        write_track(twenty, 20)
        runs = {name: [] for name in (*DECODES, "waveform")}
        for _ in range(args.runs):  # interleaved so every variant sees the same machine load
            for dtype in DECODES:
                runs[dtype].append(timed(decoder(dtype), five))
            runs["waveform"].append(timed(produce, five))
        best = {name: min(times) for name, times in runs.items()}
        print(f"5-min 44.1 kHz/16-bit stereo WAV ({five.stat().st_size / 2**20:.1f} MiB), best of {args.runs}:")
        print(f"  JSON + .dat + PNG: {best['waveform'] * 1000:7.1f} ms")
        for dtype in DECODES:
            ratio = best["waveform"] / best[dtype]
            verdict = "met" if ratio <= 1.5 else "NOT met"
            print(f"  decode only, soundfile to {dtype:7}: {best[dtype] * 1000:7.1f} ms"
                  f"  ratio {ratio:.2f} (goal <= 1.5: {verdict})")

        rss5, rss20 = peak_rss_mib(five), peak_rss_mib(twenty)
        print("peak RSS of a fresh process generating the waveform:")
        print(f"  5-min:  {rss5:7.1f} MiB")
        print(f"  20-min: {rss20:7.1f} MiB ({twenty.stat().st_size / 2**20:.0f} MiB file)")
        growth = rss20 - rss5
        print(f"  difference: {growth:.1f} MiB  (goal within 20 MiB: {'met' if abs(growth) <= 20 else 'NOT met'})")


if __name__ == "__main__":
    main()
