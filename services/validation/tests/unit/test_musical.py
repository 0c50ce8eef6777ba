import numpy as np
import pytest

from beatpass_validation.musical import Excerpt, estimate, excerpts


def test_excerpts_are_bounded_and_inside_the_track():
    assert [(e.start, e.length) for e in excerpts(44100 * 11, 44100)] == [(0, 44100 * 11)]
    long = excerpts(96000 * 1200, 96000)
    assert len(long) == 3 and all(e.length == 96000 * 20 for e in long)
    assert all(e.start >= 0 and e.start + e.length <= 96000 * 1200 for e in long)
    assert long[0].start < long[1].start < long[2].start
    assert sum(e.samples.nbytes for e in long) < 6 * 2**20  # decimated: 60 s at 24 kHz float32


def test_streaming_decimation_matches_whatever_the_block_size():
    rate = 96000
    t = np.arange(rate * 3) / rate
    planar = np.stack([np.sin(2 * np.pi * 1000 * t)] * 2).astype(np.float32)
    results = []
    for block in (4096, 9600 * 7, 100_003):
        excerpt = Excerpt(12_345, rate * 2, rate)
        for i in range(0, planar.shape[1], block):
            excerpt.feed(i, planar[:, i : i + block], 1.0)
        results.append(excerpt.samples)
    assert results[0].shape == (rate * 2 // 4,)
    assert np.allclose(results[0], results[1], atol=1e-6) and np.allclose(results[0], results[2], atol=1e-6)
    spectrum = np.abs(np.fft.rfft(results[0][2000:]))
    assert np.fft.rfftfreq(len(results[0]) - 2000, 1 / 24000)[spectrum.argmax()] == pytest.approx(1000, abs=2)
    assert np.abs(results[0][2000:]).max() == pytest.approx(1.0, abs=0.02)  # passband keeps its level


def test_major_key_and_silence(gen):
    rate = 44100
    t = np.arange(rate * 8) / rate
    c_major = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0, 523.25)) / 4  # C E G C
    excerpt = Excerpt(0, len(t), rate)
    excerpt.feed(0, c_major[None, :].astype(np.float32), 1.0)
    assert estimate([excerpt], bpm_min=60, bpm_max=200).key == "C major"
    quiet = Excerpt(0, rate, rate)  # one second: too short to estimate
    assert estimate([quiet], bpm_min=60, bpm_max=200).bpm is None
