"""Where the fingerprint step's time goes: cProfile of ``analyse`` on one generated WAV, beside
``fpcalc -length 0 -raw`` on the same file (docs/performance.md keeps the findings).

    .venv/bin/python services/fingerprint/bench/profile_fingerprint.py [--seconds 300] [--subtype PCM_16]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the beat generator

import beat_synth as synth
from conftest import wav_bytes

from beatpass_fingerprint.chroma import analyse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--subtype", default="PCM_16", help="soundfile subtype: PCM_16, PCM_24, FLOAT")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(wav_bytes(synth.render(synth.random_spec(7, duration_s=args.seconds)), synth.SR, args.subtype))
        f.flush()
        for _ in range(2):  # warm the page cache and the libraries
            with open(f.name, "rb") as stream:
                analyse(stream)
        profile = cProfile.Profile()
        t = time.perf_counter()
        with open(f.name, "rb") as stream:
            profile.runcall(analyse, stream)
        profiled = time.perf_counter() - t
        ours, theirs = [], []
        for _ in range(args.runs):  # interleaved, best of each: the machine is shared
            t = time.perf_counter()
            with open(f.name, "rb") as stream:
                analyse(stream)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(["fpcalc", "-length", "0", "-raw", f.name], capture_output=True, check=False)
            theirs.append(time.perf_counter() - t)
    ours, theirs = min(ours), min(theirs)
    print(
        f"{args.seconds:.0f} s stereo 44.1 kHz {args.subtype} WAV, best of {args.runs}: analyse {ours:.3f} s "
        f"(under cProfile {profiled:.3f} s), fpcalc -length 0 -raw {theirs:.3f} s, ratio {ours / theirs:.2f}"
    )
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
