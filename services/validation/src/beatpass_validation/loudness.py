"""Integrated loudness (ITU-R BS.1770-4) fed block by block, so memory stays bounded.

pyloudnorm needs the whole signal in memory (about 1.8 GB of float64 for a 20-minute 96 kHz stereo
file), so this meter keeps the K-weighting filter state between blocks and only the mean square
of each 100 ms segment; the 400 ms gating blocks (75 % overlap) are four consecutive segments.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import sosfilt

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
SEGMENT_S = 0.1
SEGMENTS_PER_BLOCK = 4
SHELF_HZ = 1681.974450955533
# Rates the meter measures: the K-weighting shelf must lie below Nyquist, and above 768 kHz (no
# audio interface goes higher) one 100 ms segment would make the decoder's blocks huge.
MIN_RATE_HZ, MAX_RATE_HZ = 2 * SHELF_HZ, 768_000


def _biquad(rate: int, f0: float, q: float, gain_db: float, highpass: bool) -> list[float]:
    """One K-weighting stage via the bilinear transform; reproduces the spec's 48 kHz coefficients."""
    k = math.tan(math.pi * f0 / rate)
    a0 = 1.0 + k / q + k * k
    a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    if highpass:
        b = [1.0, -2.0, 1.0]
    else:
        vh = 10.0 ** (gain_db / 20.0)
        vb = vh**0.4996667741545416
        b = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    return b + a


def k_weighting(rate: int) -> np.ndarray:
    """Second-order sections of the BS.1770 pre-filter (high shelf, then RLB high-pass) at ``rate``."""
    return np.array(
        [
            _biquad(rate, SHELF_HZ, 0.7071752369554196, 3.999843853973347, highpass=False),
            _biquad(rate, 38.13547087602444, 0.5003270373238773, 0.0, highpass=True),
        ]
    )


class LoudnessMeter:
    """Feed float32 planar blocks (channels, n) with ``add``; read ``integrated()`` at the end.

    At a rate outside [MIN_RATE_HZ, MAX_RATE_HZ] it measures nothing (``integrated()`` is None)
    and ``segment_frames`` is 1, so it constrains no block size.
    """

    def __init__(self, rate: int, channels: int):
        measurable = MIN_RATE_HZ < rate <= MAX_RATE_HZ
        self.segment_frames = max(1, round(rate * SEGMENT_S)) if measurable else 1
        # float32 halves the filter's cost; error < 0.01 LU
        self._sos = k_weighting(rate).astype(np.float32) if measurable else None
        self._zi = np.zeros((2, channels, 2), np.float32)
        # BS.1770 weights: 1.0 for L, R, C; 1.41 for the surround pair.
        self._weights = np.array([1.0 if c < 3 else 1.41 for c in range(channels)])
        self._segments: list[np.ndarray] = []

    def add(self, planar: np.ndarray, scale: float = 1.0) -> None:
        """``planar`` * ``scale`` is the signal; blocks must hold whole segments except the last."""
        if self._sos is None:
            return
        y, self._zi = sosfilt(self._sos, planar, axis=-1, zi=self._zi)
        whole = y.shape[1] // self.segment_frames
        if whole:
            seg = y[:, : whole * self.segment_frames].reshape(len(y), whole, self.segment_frames)
            energy = np.einsum("ijk,ijk->ji", seg, seg).astype(np.float64)
            self._segments.append(energy * (scale * scale / self.segment_frames))

    def integrated(self) -> float | None:
        """Gated integrated loudness in LUFS; None when nothing is above the absolute gate, or when
        the filtered energy is not finite (float samples so large that float32 overflowed)."""
        if not self._segments:
            return None
        seg = np.concatenate(self._segments)
        if len(seg) < SEGMENTS_PER_BLOCK or not np.isfinite(seg).all():
            return None
        # Summed window by window, not as differences of a running sum, which after a loud
        # passage can leave a quiet block a few ulps of that sum: wrong, even negative.
        blocks = sliding_window_view(seg, SEGMENTS_PER_BLOCK, axis=0).mean(axis=-1)
        power = blocks @ self._weights
        with np.errstate(divide="ignore"):
            loud = -0.691 + 10.0 * np.log10(power)
        gated = power[loud > ABSOLUTE_GATE_LUFS]
        if not len(gated):
            return None
        relative = -0.691 + 10.0 * math.log10(gated.mean()) + RELATIVE_GATE_LU
        final = power[(loud > ABSOLUTE_GATE_LUFS) & (loud > relative)]
        return -0.691 + 10.0 * math.log10(final.mean())
