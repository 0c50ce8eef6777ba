import numpy as np
import pyloudnorm
import pytest

from beatpass_validation.loudness import LoudnessMeter, k_weighting


def measure(x: np.ndarray, rate: int, block: int) -> float | None:
    meter = LoudnessMeter(rate, x.shape[1])
    step = meter.segment_frames * block
    for i in range(0, len(x), step):
        meter.add(np.ascontiguousarray(x[i : i + step].T, dtype=np.float32))
    return meter.integrated()


def test_48k_coefficients_are_the_spec_table():
    sos = k_weighting(48000)
    assert sos[0] == pytest.approx(
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585], abs=1e-10
    )
    assert sos[1] == pytest.approx([1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], abs=1e-10)


def test_full_scale_997hz_sine_in_one_channel_reads_minus_3_01():
    rate = 48000
    t = np.arange(rate * 5) / rate
    x = np.stack([np.sin(2 * np.pi * 997 * t), np.zeros_like(t)], axis=1)
    assert measure(x, rate, 7) == pytest.approx(-3.01, abs=0.02)


@pytest.mark.parametrize("rate", [44100, 96000, 192000])
def test_agrees_with_pyloudnorm_whatever_the_block_size(rate):
    rng = np.random.default_rng(5)
    t = np.arange(rate * 6) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 220 * t) * (t % 2 < 1.2), 0.05 * rng.standard_normal(len(t))], axis=1)
    reference = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert measure(x, rate, 3) == pytest.approx(reference, abs=0.1)
    assert measure(x, rate, 3) == pytest.approx(measure(x, rate, 11), abs=1e-4)


def test_silence_and_short_input_have_no_loudness():
    assert measure(np.zeros((48000 * 2, 2)), 48000, 4) is None
    assert measure(np.ones((1000, 1)) * 0.5, 48000, 4) is None  # shorter than one 400 ms block
