"""Peaks against values derived by hand from audiowaveform's WaveformGenerator and WaveformBuffer.

Ten stereo frames at samples_per_pixel 4 give pixels of 4, 4 and 2 frames (the last one partial).
Mix-down is (L + R) / 2 truncated towards zero; 8-bit is value / 256 truncated towards zero.

frame   L       R       L+R     mixed   (floor division would give)
0       1000    -3000   -2000   -1000
1       -1      0       -1      0       -1
2       32767   32767   65534   32767
3       -32768  -32767  -65535  -32767  -32768
4       300     213     513     256
5       -300    -209    -509    -254    -255
6       -255    -256    -511    -255    -256
7       100     101     201     100
8       -7      2       -5      -2      -3
9       4       5       9       4

pixel 0 (frames 0-3): min -32767 max 32767  -> 8-bit -127 127
pixel 1 (frames 4-7): min -255   max 256    -> 8-bit 0 1   (floor would give -1)
pixel 2 (frames 8-9): min -2     max 4      -> 8-bit 0 0

Split channels: pixel 0 L -32768/32767, R -32767/32767; pixel 1 L -300/300, R -256/213;
pixel 2 L -7/4, R 2/5. In 8 bits: -128/127, -127/127; -1/1, -1/0; 0/0, 0/0.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from beatpass_common.errors import Unreadable as UndecodableAudio
from beatpass_waveform.peaks import PeakBuilder, compute_peaks, resolve_samples_per_pixel

FRAMES = np.array(
    [
        [1000, -3000],
        [-1, 0],
        [32767, 32767],
        [-32768, -32767],
        [300, 213],
        [-300, -209],
        [-255, -256],
        [100, 101],
        [-7, 2],
        [4, 5],
    ],
    dtype=np.int16,
)

MIXED_16 = [-32767, 32767, -255, 256, -2, 4]
MIXED_8 = [-127, 127, 0, 1, 0, 0]
SPLIT_16 = [-32768, 32767, -32767, 32767, -300, 300, -256, 213, -7, 4, 2, 5]
SPLIT_8 = [-128, 127, -127, 127, -1, 1, -1, 0, 0, 0, 0, 0]


def peaks_of(wav: bytes, **options):
    return compute_peaks(io.BytesIO(wav), **options)


def test_stereo_mixdown_matches_hand_derived_values(make_wav):
    peaks = peaks_of(make_wav(FRAMES), samples_per_pixel=4)
    assert (peaks.length, peaks.channels, peaks.bits, peaks.samples_per_pixel) == (3, 1, 16, 4)
    assert peaks.data.reshape(-1).tolist() == MIXED_16
    assert peaks.to_bits(8).data.reshape(-1).tolist() == MIXED_8


def test_split_channels_keep_each_channel(make_wav):
    peaks = peaks_of(make_wav(FRAMES), samples_per_pixel=4, split_channels=True)
    assert peaks.channels == 2
    assert peaks.data.reshape(-1).tolist() == SPLIT_16
    assert peaks.to_bits(8).data.reshape(-1).tolist() == SPLIT_8


def test_mono_is_not_divided(make_wav):
    peaks = peaks_of(make_wav(FRAMES[:, :1]), samples_per_pixel=4)
    assert peaks.data.reshape(-1).tolist() == [-32768, 32767, -300, 300, -7, 4]


def test_24_and_32_bit_keep_the_top_16_bits_floored(make_wav):
    # libsndfile's sf_readf_short (what audiowaveform reads through) floors: low bits never round up.
    low = np.where(FRAMES >= 0, 0xFF, 0x01).astype(np.int32)
    wav24 = make_wav(FRAMES.astype(np.int32) * 256 + low, bits=24)
    wav32 = make_wav(FRAMES.astype(np.int32) * 65536 + low * 257, bits=32)
    for wav in (wav24, wav32):
        assert peaks_of(wav, samples_per_pixel=4).data.reshape(-1).tolist() == MIXED_16


@pytest.mark.parametrize("bits", [32, 64])
def test_float_is_scaled_by_32767_and_truncated(make_wav, bits):
    # 0.5 * 32767 = 16383.5 -> 16383; 0.25 -> 8191.75 -> 8191; -0.5 -> -16383; +-1 -> +-32767.
    # Beyond full scale the C++ cast is undefined; we clamp (1.5 -> 32767).
    samples = np.array([[0.5], [0.25], [-0.5], [1.0], [-1.0], [1.5], [-0.25]])
    peaks = peaks_of(make_wav(samples, bits=bits, is_float=True), samples_per_pixel=3)
    assert peaks.data.reshape(-1).tolist() == [-16383, 16383, -32767, 32767, -8191, -8191]


def test_pixels_per_second_mode(make_wav):
    # 8 Hz at 2 pixels per second: 8 // 2 = 4 samples per pixel, so the same pixels as above.
    peaks = peaks_of(make_wav(FRAMES, sample_rate=8), samples_per_pixel=None, pixels_per_second=2)
    assert peaks.samples_per_pixel == 4
    assert peaks.data.reshape(-1).tolist() == MIXED_16
    assert resolve_samples_per_pixel(44_100, pixels_per_second=100) == 441


@pytest.mark.parametrize("spp, pps", [(1, None), (None, 5), (None, 0)])
def test_zoom_below_two_samples_per_pixel_is_refused(spp, pps):
    with pytest.raises(ValueError):
        resolve_samples_per_pixel(8, spp, pps)


@pytest.mark.parametrize("sizes", [[10], [1, 3, 5, 1], [3, 0, 3, 3, 1], [7, 3], [1] * 10])
@pytest.mark.parametrize("split", [False, True])
def test_block_sizes_never_move_pixel_boundaries(sizes, split):
    builder = PeakBuilder(8, 2, 4, split_channels=split)
    start = 0
    for size in sizes:
        builder.add(FRAMES[start : start + size])
        start += size
    assert builder.finish().data.reshape(-1).tolist() == (SPLIT_16 if split else MIXED_16)


def test_long_random_file_matches_a_frame_by_frame_model(make_wav):
    rng = np.random.default_rng(7)
    frames = rng.integers(-32768, 32768, size=(10_000 + 77, 2), dtype=np.int16)
    peaks = compute_peaks(io.BytesIO(make_wav(frames)), samples_per_pixel=256, block_bytes=4096)
    assert peaks.length == -(-len(frames) // 256)
    assert np.array_equal(peaks.data[:, 0, :], _frame_by_frame(frames, 256))


def _frame_by_frame(frames: np.ndarray, spp: int) -> np.ndarray:
    """audiowaveform's loop, literally: one frame at a time, C division, partial last pixel."""
    out, lo, hi, count = [], 32767, -32768, 0
    for left, right in frames.tolist():
        total = left + right
        sample = abs(total) // 2 * (1 if total >= 0 else -1)
        lo, hi, count = min(lo, sample), max(hi, sample), count + 1
        if count == spp:
            out.append((lo, hi))
            lo, hi, count = 32767, -32768, 0
    if count:
        out.append((lo, hi))
    return np.array(out)


def test_empty_data_chunk_is_unreadable(make_wav):
    # libsndfile reads no audio from a 0-byte data chunk; validation rejects it (AUDIO_BAD_HEADER).
    with pytest.raises(UndecodableAudio, match="0 bytes"):
        peaks_of(make_wav(np.zeros((0, 2), np.int16)))


def test_undecodable_audio_raises(make_wav):
    with pytest.raises(UndecodableAudio):
        peaks_of(b"ID3\x03not a wav at all")
