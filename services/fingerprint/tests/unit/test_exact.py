"""The exact hash's promise (same sample values, same rate and channels: same hash, whatever the
container and sample width), and the fingerprint being fpcalc's on the same file."""

import hashlib
import io
import subprocess

import blake3
import numpy as np
import pytest
import soundfile as sf
from conftest import wav_bytes

from beatpass_fingerprint.chroma import analyse
from beatpass_fingerprint.exact import exact_hash


def tone(seconds: float, rate: int = 44100, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.4 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2 + 0.1 * np.sin(
        2 * np.pi * 331 * t * (1 + 0.1 * np.sin(t))
    )
    return np.stack([x, np.roll(x, 99)][:channels], axis=1)


def wav(x: np.ndarray, rate: int = 44100, subtype: str = "PCM_16") -> bytes:
    return wav_bytes(x, rate, subtype)


def fpcalc_raw(data: bytes, tmp_path) -> np.ndarray:
    path = tmp_path / "audio.wav"
    path.write_bytes(data)
    # fpcalc exits 3 on the "End of file" decoder notice at the end of a WAV; the output is whole.
    out = subprocess.run(
        ["fpcalc", "-length", "0", "-raw", str(path)], capture_output=True, text=True, timeout=60
    ).stdout
    return np.array(out.split("FINGERPRINT=")[1].split(","), np.int64).astype(np.uint32)


@pytest.mark.parametrize(
    "subtype, channels, rate",
    [
        ("PCM_16", 2, 44100),
        ("PCM_16", 1, 48000),
        ("PCM_24", 2, 96000),
        ("PCM_32", 2, 44100),
        ("FLOAT", 1, 22050),
    ],
)
def test_the_fingerprint_is_fpcalcs(subtype, channels, rate, tmp_path):
    data = wav(tone(15.0, rate, channels) * 0.9, rate, subtype)
    ours = analyse(io.BytesIO(data)).fingerprint
    assert len(ours) > 90 and np.array_equal(ours, fpcalc_raw(data, tmp_path))


def test_the_same_values_hash_the_same_in_every_width():
    x = tone(4.0)  # written as 16-bit: every value is exact in 24, 32 bits and float
    x16 = sf.read(io.BytesIO(wav(x)), dtype="float64")[0]
    hashes = {
        subtype: exact_hash(io.BytesIO(wav(x16, subtype=subtype)))
        for subtype in ("PCM_16", "PCM_24", "PCM_32", "FLOAT")
    }
    assert len(set(hashes.values())) == 1, hashes
    # 24-bit audio: the same in 24, 32 bits and float, and not its 16-bit rounding
    x24 = np.round(x * 2**23) / 2**23
    wide = {subtype: exact_hash(io.BytesIO(wav(x24, subtype=subtype))) for subtype in ("PCM_24", "PCM_32", "FLOAT")}
    assert len(set(wide.values())) == 1 and hashes["PCM_16"] not in wide.values(), wide
    # 32-bit values that float32 cannot hold: no longer folded onto their float32 rounding
    x32 = x24 + 2.0**-31
    assert exact_hash(io.BytesIO(wav(x32, subtype="PCM_32"))) not in wide.values()


def test_one_sample_more_or_different_changes_the_hash():
    x = sf.read(io.BytesIO(wav(tone(2.0))), dtype="float64")[0]
    base = exact_hash(io.BytesIO(wav(x)))
    y = x.copy()
    y[-1, 1] += 2.0**-15
    assert exact_hash(io.BytesIO(wav(y))) != base
    assert exact_hash(io.BytesIO(wav(np.vstack([x, x[:1]])))) != base
    assert exact_hash(io.BytesIO(wav(x[:, :1]))) != exact_hash(io.BytesIO(wav(x[:, 1:2], 48000)))  # a rate is meaning


def test_a_16_bit_file_hashes_its_data_chunk_as_it_is():
    data = wav(tone(1.0))
    start = data.index(b"data") + 8
    assert exact_hash(io.BytesIO(data)) == blake3.blake3(b"beatpass-pcm-2:i16:44100:2:" + data[start:]).hexdigest()


def test_the_legacy_hash_is_the_sha256_of_the_float32_samples():
    data = wav(tone(1.0), subtype="PCM_24")
    samples = sf.read(io.BytesIO(data), dtype="float32")[0]
    expected = hashlib.sha256(b"pcm-f32le:44100:2:" + samples.tobytes()).hexdigest()
    printed = analyse(io.BytesIO(data), legacy_hash=True)
    assert printed.legacy_hash == expected and analyse(io.BytesIO(data)).legacy_hash is None
    assert printed.pcm_hash == exact_hash(io.BytesIO(data))


def test_a_narrower_form_that_stops_fitting_past_the_first_block_gives_way_to_the_wider():
    # 4 s that fit 16 bits, then 2 s that need 24: over 1 MiB of 24-bit data, so the 16-bit
    # candidate is hashed through a whole block before the samples that end it.
    x = sf.read(io.BytesIO(wav(tone(6.0))), dtype="float64")[0]
    x[4 * 44100 :] += 2.0**-23
    hashes = {subtype: exact_hash(io.BytesIO(wav(x, subtype=subtype))) for subtype in ("PCM_24", "PCM_32", "FLOAT")}
    assert len(set(hashes.values())) == 1, hashes
    data = wav(x, subtype="PCM_24")
    assert (
        hashes["PCM_24"] == blake3.blake3(b"beatpass-pcm-2:i24:44100:2:" + data[data.index(b"data") + 8 :]).hexdigest()
    )
