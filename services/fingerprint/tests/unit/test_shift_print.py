"""The shift-robust print: triplet shapes do not change when peaks are moved in frequency and
scaled in time, the fit finds the shift and the ratio back, verification tells a copy from
unrelated peaks, and the stored form gives back the very peaks (so the very keys)."""

import io

import beat_synth as synth
import numpy as np
import pytest
from conftest import wav_bytes

from beatpass_fingerprint.chroma import analyse
from beatpass_fingerprint.cqt_peaks import FRAME_S, N_BINS, Peaks, pack_peaks, unpack_peaks
from beatpass_fingerprint.decision import decide_shifted
from beatpass_fingerprint.shifted import fit, verify
from beatpass_fingerprint.triplets import BANDS, KEY_SPACE, index_keys, query_keys, triplets


def random_peaks(seed: int, seconds: float = 60.0, per_s: float = 10.0) -> Peaks:
    """Peaks spread like a track's: times anywhere, notes on a semitone grid give or take a little,
    about half of them sustained."""
    rng = np.random.default_rng(seed)
    n = int(seconds * per_s)
    frames = np.sort(rng.integers(0, int(seconds / FRAME_S), n)).astype(np.int32)
    bins = (rng.integers(8, 36, n) + rng.uniform(-0.1, 0.1, n)).astype(np.float32)
    return Peaks(frames, bins, rng.uniform(-40, 0, n).astype(np.float32), rng.random(n) < 0.5)


def moved(peaks: Peaks, semitones: float, tempo: float) -> Peaks:
    """The same peaks ``semitones`` higher, played ``tempo`` times as fast (frames rounded)."""
    frames = np.rint(peaks.frames / tempo).astype(np.int32)
    order = np.lexsort((peaks.bins, frames))
    return Peaks(frames[order], (peaks.bins + semitones)[order], peaks.levels[order], peaks.sustained[order])


@pytest.mark.parametrize(
    "semitones,tempo", [(1.0, 1.0), (-2.0, 1.0), (0.0, 0.92), (0.0, 1.08), (1.01, 1.06), (-1.5, 0.94)]
)
def test_shapes_survive_a_shift_and_the_fit_finds_it(semitones, tempo):
    original = random_peaks(1)
    copy = moved(original, semitones, tempo)
    a, b = triplets(original), triplets(copy)
    shared = np.intersect1d(a.keys, b.keys)
    assert len(shared) >= 0.3 * len(np.unique(a.keys))  # frame rounding changes some ratios, not most
    assert len(np.intersect1d(index_keys(a), query_keys(b))) >= 0.3 * len(index_keys(a))
    shift = fit(b, a)
    assert shift is not None
    assert shift.pitch == pytest.approx(semitones, abs=0.05) and shift.tempo_ratio == pytest.approx(tempo, abs=0.003)
    frames = int(60 / FRAME_S)
    match = verify(copy, original, shift, int(frames / tempo), frames)
    assert match.coverage > 0.9 and match.agreement > 0.9


def test_unrelated_peaks_do_not_verify():
    a, b = random_peaks(1), random_peaks(2)
    shift = fit(triplets(b), triplets(a))
    if shift is not None:  # chance agreements may fit something; it must not verify
        frames = int(60 / FRAME_S)
        assert decide_shifted(verify(b, a, shift, frames, frames)) == "distinct"


def test_no_shift_is_left_to_chromaprint():
    original = random_peaks(3)
    shift = fit(triplets(original), triplets(original))
    frames = int(60 / FRAME_S)
    match = verify(original, original, shift, frames, frames)
    assert match.agreement == 1.0 and match.coverage == 1.0
    assert decide_shifted(match) == "distinct"  # same pitch and tempo: Chromaprint's case


def test_keys_are_in_range_and_each_stored_once():
    tri = triplets(random_peaks(4))
    keys = index_keys(tri)
    assert len(keys) > 0 and keys.min() >= 0 and keys.max() < KEY_SPACE
    assert np.array_equal(keys, np.unique(keys))
    probes = query_keys(tri)
    assert len(keys) <= len(probes) <= 3 * len(keys)  # up to three bands a shape
    assert set(keys.tolist()) <= set(probes.tolist())  # an unshifted copy probes its own bands
    assert set((probes % BANDS).tolist()) <= set(range(BANDS))


def test_stored_peaks_give_back_the_same_peaks_and_keys():
    audio = analyse(io.BytesIO(wav_bytes(synth.render(synth.random_spec(0, 20.0)), synth.SR)), shift_peaks=True)
    back = unpack_peaks(pack_peaks(audio.peaks))
    for field in ("frames", "bins", "levels", "sustained"):
        assert np.array_equal(getattr(back, field), getattr(audio.peaks, field))
    assert np.array_equal(index_keys(triplets(back)), index_keys(triplets(audio.peaks)))
    assert 4 <= len(audio.peaks) / audio.duration_s <= 12  # the density bound, and not empty
    assert np.all((audio.peaks.bins > 0) & (audio.peaks.bins < N_BINS))


@pytest.mark.parametrize("signal", ["silence", "short"])
def test_silence_and_a_blip_have_no_peaks(signal):
    x = np.zeros((44100 * 10, 2), np.float32) if signal == "silence" else np.full((200, 2), 0.5, np.float32)
    audio = analyse(io.BytesIO(wav_bytes(x, 44100)), shift_peaks=True)
    assert len(audio.peaks) == 0 and len(triplets(audio.peaks)) == 0
