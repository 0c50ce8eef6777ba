"""Generated test signals for property tests of the audio analysis (hypothesis strategies).

A strategy draws a small ``SignalSpec`` (kind, length, rate, format, level, seed); the test
synthesises it with ``spec.samples()`` / ``spec.wav()``, so drawing stays cheap and a failing
example shrinks to readable parameters. Kinds cover what breaks estimators: noises of every
colour, DC, one impulse in near-silence, pure and slowly modulated tones, click trains far
outside the musical tempo range, full-scale Nyquist, square waves and digital silence.

``HYPOTHESIS_PROFILE=long`` (``make fuzz-analysis``) runs more examples over longer signals.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from .media import wav_bytes

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
RATES = (44_100, 48_000, 88_200, 96_000, 176_400, 192_000)  # every rate validation accepts
FORMATS = (("pcm", 16), ("pcm", 24), ("pcm", 32), ("float", 32))  # every format validation accepts
KINDS = ("white", "pink", "brown", "dc", "impulse", "tone", "modulated", "clicks", "nyquist", "square", "silence")
STEREO = ("same", "inverted", "independent")  # how a second channel relates to the first
LENGTH_FACTOR = 5 if LONG else 1  # the long profile stretches every length range this much
# Samples (frames x channels) one example may hold: long signals come at lower rates.
SAMPLE_BUDGET = 16_000_000 if LONG else 8_000_000


@dataclass(frozen=True)
class SignalSpec:
    kind: str
    seconds: float
    rate: int
    channels: int
    encoding: str  # "pcm" or "float"
    bits: int
    level: float  # peak value; above 1 only for float (over full scale, up to float32's limit)
    seed: int
    param: float  # the kind's frequency in Hz, or its tempo in BPM for clicks
    stereo: str = "same"

    @property
    def frames(self) -> int:
        return int(self.seconds * self.rate)

    def samples(self) -> np.ndarray:
        """Float64 (frames, channels); PCM kinds stay within [-1, 1]."""
        first = _mono(self.kind, self.frames, self.rate, self.param, np.random.default_rng(self.seed))
        if self.channels == 1:
            channels = [first]
        elif self.stereo == "same":
            channels = [first, first]
        elif self.stereo == "inverted":  # the mono mix is digital silence
            channels = [first, -first]
        else:
            channels = [
                first,
                _mono(self.kind, self.frames, self.rate, self.param, np.random.default_rng(self.seed + 1)),
            ]
        return np.stack(channels, axis=1) * self.level

    def wav(self) -> bytes:
        x = self.samples()
        if self.encoding == "float":
            return wav_bytes(x, self.rate, float_=True)
        return wav_bytes(np.clip(x, -1.0, 1.0), self.rate, self.bits)


def _mono(kind: str, n: int, rate: int, param: float, rng: np.random.Generator) -> np.ndarray:
    """One channel with peak 1 (0 for silence)."""
    t = np.arange(n) / rate
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":  # white noise shaped to 1/f power in the frequency domain
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        spectrum[0] = 0
        x = np.fft.irfft(spectrum, n)
    elif kind == "brown":  # a random walk, as in the case that hung the tempo folding
        x = np.cumsum(rng.standard_normal(n))
    elif kind == "dc":
        x = np.ones(n)
    elif kind == "impulse":  # one full-scale sample in noise 90 dB down
        x = rng.standard_normal(n) * 3e-5
        x[int(rng.integers(n))] = 1.0
    elif kind == "tone":
        x = np.sin(2 * np.pi * param * t + rng.uniform(0, 2 * np.pi))
    elif kind == "modulated":  # slow tremolo and vibrato
        vibrato = 0.01 * param * np.sin(2 * np.pi * 0.3 * t) / (2 * np.pi * 0.3)
        x = (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) * np.sin(2 * np.pi * (param * t + vibrato))
    elif kind == "clicks":  # 2 ms clicks every beat at ``param`` BPM
        x = np.zeros(n)
        starts = np.arange(0, n, max(1, round(60.0 * rate / param)))
        width = max(1, rate // 500)
        for offset in range(width):
            x[np.minimum(starts + offset, n - 1)] = 1.0
    elif kind == "nyquist":
        x = np.where(np.arange(n) % 2, -1.0, 1.0)
    elif kind == "square":
        x = np.where(np.sin(2 * np.pi * param * t) >= 0, 1.0, -1.0)
    elif kind == "silence":
        return np.zeros(n)
    else:
        raise ValueError(kind)
    top = np.max(np.abs(x)) if n else 0.0
    return x / top if top > 0 else x


@st.composite
def signal_specs(
    draw, *, min_s: float = 10.0, max_s: float = 12.0, kinds=KINDS, rates=RATES, formats=FORMATS, channels=(1, 2)
) -> SignalSpec:
    """Specs of ``min_s``..``max_s`` seconds (times LENGTH_FACTOR; less when SAMPLE_BUDGET would be
    exceeded)."""
    kind = draw(st.sampled_from(kinds))
    rate = draw(st.sampled_from(rates))
    count = draw(st.sampled_from(channels))
    encoding, bits = draw(st.sampled_from(formats))
    seconds = draw(st.floats(min_s, max(min_s, min(max_s * LENGTH_FACTOR, SAMPLE_BUDGET / (rate * count)))))
    if kind == "clicks":  # including tempi far outside 60-200 BPM
        param = draw(st.sampled_from([20.0, 600.0]) | st.floats(5.0, 1200.0))
    else:
        param = draw(st.floats(20.0, 0.45 * rate))
    levels = st.floats(1e-5, 1.0) | st.just(1.0)
    if encoding == "float":  # over full scale, as far as float32 goes
        levels = levels | st.sampled_from([4.0, 1e20, 3e38])
    return SignalSpec(
        kind=kind,
        seconds=seconds,
        rate=rate,
        channels=count,
        encoding=encoding,
        bits=bits,
        level=draw(levels),
        seed=draw(st.integers(0, 2**16)),
        param=param,
        stereo=draw(st.sampled_from(STEREO)) if count == 2 else "same",
    )


def analysis_settings(examples: int) -> settings:
    """Hypothesis settings for analysis properties: ``examples`` per test (ten times as many under
    HYPOTHESIS_PROFILE=long), deterministic in the normal suite, freshly random in the long run.
    Time is bounded per example by ``time_limit`` instead of hypothesis' deadline, which only
    reports a slow example after it has finished."""
    return settings(
        max_examples=examples * 10 if LONG else examples,
        deadline=None,
        derandomize=not LONG,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class TookTooLong(AssertionError):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (raise TookTooLong) when the block runs longer than ``seconds`` of wall clock, even
    inside a Python loop that would never end. Uses SIGALRM (main thread only) and gives back a
    timer already set, such as pytest-timeout's, with its remaining time."""

    def expire(_signum, _frame):
        raise TookTooLong(f"took longer than {seconds:g} s")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_interval)


def bpm_ranges() -> st.SearchStrategy[tuple[int, int]]:
    """The default 60-200 BPM, and ranges narrower than an octave where no fold may fit."""
    return st.just((60, 200)) | st.tuples(st.integers(1, 400), st.integers(0, 400)).map(
        lambda pair: (pair[0], pair[0] + pair[1])
    )


def finite_or_none(value: float | None) -> bool:
    return value is None or math.isfinite(value)
