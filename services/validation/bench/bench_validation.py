"""Benchmark: validate a 20-minute 96 kHz / 24-bit stereo WAV (about 700 MB).

Prints the validation's peak RSS and its wall time as a ratio to plainly decoding the same file
with soundfile in blocks, both measured in this run, each in a fresh subprocess (so ru_maxrss is
that job's alone). Timings exclude interpreter start-up, imports and librosa's first-call numba
compilation (printed separately), which a worker pays once, not per track.

    .venv/bin/python services/validation/bench/bench_validation.py [--minutes 20]
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

RATE, CHANNELS, BYTES = 96_000, 2, 3

SOUNDFILE_JOB = """
import resource, sys, time, soundfile
start = time.perf_counter()
frames = sum(len(b) for b in soundfile.blocks(sys.argv[1], blocksize=65536, dtype="float32"))
print(json.dumps({"seconds": time.perf_counter() - start, "frames": frames,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

VALIDATION_JOB = """
import resource, sys, time
from pathlib import Path
from beatpass_common.config import Settings
from beatpass_common.events import ObjectRef
from beatpass_common.storage import LocalStore
import beatpass_validation.service  # everything the worker process loads (bus, HTTP, storage clients)
from beatpass_validation.audio import check_audio, estimated
import numpy as np
from beatpass_validation import musical
# A worker pays librosa's import and numba compilation once, on its first track: do it here.
warm = musical.Excerpt(0, 44100 * 3, 44100)
warm.samples[:] = np.sin(np.arange(len(warm.samples)) * 0.05)
started = time.perf_counter()
musical.estimate([warm], bpm_min=60, bpm_max=200)
warmup = time.perf_counter() - started
path = Path(sys.argv[1])
store = LocalStore(path.parent.parent)
ref = ObjectRef(bucket=path.parent.name, key=path.name, size=path.stat().st_size)
start = time.perf_counter()
result = check_audio(store, ref, Settings())
if result.facts is not None:
    result.facts = estimated(result.facts, result.excerpts, Settings())
print(json.dumps({"seconds": time.perf_counter() - start, "warmup": warmup,
                  "problems": [p.code for p in result.problems],
                  "facts": result.facts and result.facts.model_dump(),
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def write_wav(path: Path, minutes: float) -> None:
    """A beat-like 24-bit stereo WAV written block by block (the generator itself stays small)."""
    seconds = 10
    t = np.arange(RATE * seconds) / RATE
    beat = t % 0.5  # 120 BPM
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 60 * beat) * np.exp(-beat * 30)
    ints = np.round(np.repeat(mono[:, None], CHANNELS, axis=1) * 0.5 * 2**23).astype("<i4")
    block = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    frames = int(minutes * 60 * RATE)
    data_bytes = frames * CHANNELS * BYTES
    with open(path, "wb") as f:
        fmt = struct.pack("<HHIIHH", 1, CHANNELS, RATE, RATE * CHANNELS * BYTES, CHANNELS * BYTES, 24)
        f.write(b"RIFF" + struct.pack("<I", 4 + 24 + 8 + data_bytes) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes))
        left = data_bytes
        while left:
            piece = block[: min(left, len(block))]
            f.write(piece)
            left -= len(piece)


def run(job: str, path: Path) -> dict:
    code = "import json\n" + textwrap.dedent(job)
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "uploads" / "bench.wav"
        path.parent.mkdir()
        write_wav(path, args.minutes)
        size = path.stat().st_size
        print(f"file: {args.minutes:g} min, 96 kHz / 24-bit stereo, {size / 2**20:,.0f} MiB")
        plain = run(SOUNDFILE_JOB, path)
        ours = run(VALIDATION_JOB, path)
    print(f"soundfile block decode: {plain['seconds']:.2f} s, peak RSS {plain['rss'] / 2**20:.0f} MiB")
    print(
        f"validation:             {ours['seconds']:.2f} s, peak RSS {ours['rss'] / 2**20:.0f} MiB "
        f"(once per worker: {ours['warmup']:.1f} s librosa warm-up)"
    )
    print(f"problems: {ours['problems'] or 'none'}; facts: {ours['facts']}")
    print(f"peak RSS of validation: {ours['rss'] / 2**20:.0f} MiB (limit 300 MiB)")
    print(f"wall time ratio validation / soundfile: {ours['seconds'] / plain['seconds']:.2f} (goal <= 2.0)")


if __name__ == "__main__":
    main()
