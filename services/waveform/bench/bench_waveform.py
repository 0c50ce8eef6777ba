"""Waveform benchmark: printed figures, measured side by side in one run.

1. Speed: producing JSON + .dat + PNG for a 5-minute 44.1 kHz/16-bit stereo WAV, as a ratio to only
   decoding that file with soundfile, block by block. Goal: <= 1.5. Printed against soundfile's
   default decode (float64) and against float32 and int16 decodes; int16 is the hardest baseline,
   since for 16-bit PCM it is little more than a copy of the file. Every variant is timed several
   times, interleaved, and the best run of each counts.
2. Memory: peak RSS of a fresh process generating the waveform of a 5-minute and of a 20-minute
   file. Goal: equal within 20 MiB. The child reports its VmHWM (Linux): its ru_maxrss would
   include this parent's resident size, which Linux carries into the child across fork and exec.

With --longest, also the longest track the platform accepts (20 minutes at 192 kHz, 24-bit
stereo, a 1.3 GiB file): its generation time and peak RSS.

Usage: python services/waveform/bench/bench_waveform.py [--runs N] [--dir DIR] [--longest]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from beatpass_waveform.options import WaveformOptions
from beatpass_waveform.outputs import generate

WRITE_SECONDS = 10  # the test file is written in 10-second pieces, so writing it is flat too


def write_track(path: Path, minutes: int, rate: int = 44_100, subtype: str = "PCM_16") -> None:
    rng = np.random.default_rng(minutes)
    with soundfile.SoundFile(path, "w", rate, 2, subtype=subtype, format="RF64" if rate > 96_000 else "WAV") as out:
        for piece in range(minutes * 60 // WRITE_SECONDS):
            t = (np.arange(rate * WRITE_SECONDS) + piece * rate * WRITE_SECONDS) / rate
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
    return json.loads(out.stdout)["peak_rss_kib"] / 1024


def own_peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark needs Linux")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--longest", action="store_true", help="also the 20-min 192 kHz/24-bit file")
    parser.add_argument("--rss-of", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        produce(args.rss_of)
        print(json.dumps({"peak_rss_kib": own_peak_rss_kib()}))
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
            print(
                f"  decode only, soundfile to {dtype:7}: {best[dtype] * 1000:7.1f} ms"
                f"  ratio {ratio:.2f} (goal <= 1.5: {verdict})"
            )

        rss5, rss20 = peak_rss_mib(five), peak_rss_mib(twenty)
        print("peak RSS of a fresh process generating the waveform:")
        print(f"  5-min:  {rss5:7.1f} MiB")
        print(f"  20-min: {rss20:7.1f} MiB ({twenty.stat().st_size / 2**20:.0f} MiB file)")
        growth = rss20 - rss5
        print(f"  difference: {growth:.1f} MiB  (goal within 20 MiB: {'met' if abs(growth) <= 20 else 'NOT met'})")

        if args.longest:
            longest = Path(tmp) / "20min-192k-24bit.wav"
            write_track(longest, 20, rate=192_000, subtype="PCM_24")
            print(f"20-min 192 kHz/24-bit stereo ({longest.stat().st_size / 2**30:.2f} GiB):")
            print(f"  JSON + .dat + PNG: {timed(produce, longest):.1f} s, peak RSS {peak_rss_mib(longest):.1f} MiB")


if __name__ == "__main__":
    main()
