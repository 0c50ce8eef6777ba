"""Seeded mutations of good files: whatever the bytes, the checks answer with problems or facts,
never an exception (an exception would be retried and dead-lettered as if it were our fault)."""

import numpy as np
import pytest

from beatpass_validation.audio import check_audio
from beatpass_validation.cover import judge_cover


def mutations(base: bytes, count: int, seed: int, head: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        data = bytearray(base)
        kind = rng.integers(3)
        if kind == 0:  # flip bytes, mostly in the header
            for _ in range(rng.integers(1, 6)):
                at = int(rng.integers(min(head, len(data)))) if rng.random() < 0.8 else int(rng.integers(len(data)))
                data[at] = int(rng.integers(256))
        elif kind == 1:  # cut anywhere
            del data[int(rng.integers(len(data))) :]
        else:  # insert a run of random bytes
            at = int(rng.integers(len(data)))
            data[at:at] = rng.bytes(int(rng.integers(1, 64)))
        yield bytes(data)


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_wavs_never_raise(store, settings, gen, seed):
    base = gen.wav(gen.music(0.3), bits=24, extensible=seed == 2, before=[gen.chunk(b"LIST", b"INFOabc")])
    for i, data in enumerate(mutations(base, 300, seed, head=120)):
        ref = gen.put(store, settings, f"m{i}", data)
        result = check_audio(store, ref, settings)
        assert result.problems or result.facts


@pytest.mark.parametrize("fmt, count", [("PNG", 200), ("JPEG", 50)])  # a JPEG that still decodes costs 50 ms
def test_mutated_covers_never_raise(settings, gen, fmt, count):
    base = gen.image((1000, 1000), "RGB", fmt)
    for data in mutations(base, count, 3, head=700):
        result = judge_cover(data, settings)
        assert result.problems or result.facts
