"""The common WAV reader against libsndfile (soundfile), on files generated from their parts and
on mutated bytes. Examples per run: BEATPASS_WAV_EXAMPLES (``make fuzz-wav`` raises it)."""

import io
import os
import time
import tracemalloc

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings

from beatpass_common.testing.wavgen import wav_files, wav_mutations
from beatpass_common.wav import WavError, iter_frames, read_info, samples_float32, samples_int32

EXAMPLES = int(os.environ.get("BEATPASS_WAV_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)


def accepted(data: bytes):
    """What the reader decodes of ``data`` (sized, seekable read), or None if it refuses it."""
    try:
        info = read_info(io.BytesIO(data), len(data))
    except WavError:
        return None
    return None if info.undecodable() or info.truncated else info


def soundfile_reads(data: bytes, dtype: str) -> np.ndarray:
    if data[:4] == b"BW64":  # byte-identical to RF64 in every part read here; libsndfile 1.2.2 knows only RF64
        data = b"RF64" + data[4:]
    return sf.read(io.BytesIO(data), dtype=dtype, always_2d=True)[0]


@FUZZ
@given(wav_files())
def test_whatever_the_reader_decodes_is_what_libsndfile_decodes(data):
    info = accepted(data)
    if info is None:
        return
    raw = data[info.data_offset : info.data_offset + info.frames * info.block_align]
    if info.is_float:
        assert np.array_equal(samples_float32(raw, info), soundfile_reads(data, "float32"), equal_nan=True)
    else:
        assert np.array_equal(samples_int32(raw, info), soundfile_reads(data, "int32"))
        assert np.array_equal(samples_float32(raw, info), soundfile_reads(data, "float32"))
    # A forward-only read (an object-store body) gives the same header and the same bytes.
    forward = io.BufferedReader(_ForwardOnly(data))
    head = read_info(forward)
    assert (head.format_tag, head.channels, head.sample_rate, head.bits) == (
        info.format_tag,
        info.channels,
        info.sample_rate,
        info.bits,
    )
    assert b"".join(iter_frames(forward, head))[: len(raw)] == raw


@FUZZ
@given(wav_mutations())
def test_fuzzed_bytes_only_ever_raise_wav_error_quickly_and_in_little_memory(data):
    tracemalloc.start()
    started = time.monotonic()
    try:
        for stream, size in ((io.BytesIO(data), len(data)), (io.BufferedReader(_ForwardOnly(data)), None)):
            try:
                info = read_info(stream, size)
            except WavError:
                continue
            if info.undecodable() is None:
                for block in iter_frames(stream, info, 4096):
                    samples_float32(block, info)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2.0
    assert peak < 2 * 1024 * 1024 + 4 * len(data)


class _ForwardOnly(io.RawIOBase):
    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n
