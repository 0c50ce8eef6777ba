"""What fpcalc feeds Chromaprint: mono 16-bit at 11025 Hz, from FFmpeg's libswresample in the
"compatible mode" fpcalc sets (chromaprint 1.5 ``src/audio/ffmpeg_audio_processor_swresample.h``).

A thin ctypes binding to the system's libswresample, the library fpcalc itself uses (a dependency
of libchromaprint1's libavcodec), so the fingerprint equals ``fpcalc -raw``'s. Its SIMD resampler
is several times faster than the one built into libchromaprint, which fpcalc bypasses the same way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np

from beatpass_common.wav import WavInfo

TARGET_RATE = 11025  # chromaprint_get_sample_rate()
# AVSampleFormat values (stable ABI): what FFmpeg's WAV decoders output, 24-bit PCM as 32-bit.
_U8, _S16, _S32, _FLT, _DBL = 0, 1, 2, 3, 4


class _ChannelLayout(ctypes.Structure):  # AVChannelLayout (libavutil >= 57.24)
    _fields_ = [
        ("order", ctypes.c_int),
        ("nb_channels", ctypes.c_int),
        ("mask", ctypes.c_uint64),
        ("opaque", ctypes.c_void_p),
    ]


@cache
def load_libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """libswresample and libavutil, with the signatures used here. Raises ``OSError`` if absent."""
    names = {lib: ctypes.util.find_library(lib) for lib in ("swresample", "avutil")}
    if None in names.values():
        raise OSError("libswresample/libavutil not found (Debian: libswresample4 or 5, with libchromaprint1)")
    swr, avutil = ctypes.CDLL(names["swresample"]), ctypes.CDLL(names["avutil"])
    swr.swr_alloc.restype = ctypes.c_void_p
    swr.swr_init.argtypes = [ctypes.c_void_p]
    swr.swr_free.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    swr.swr_get_out_samples.argtypes = [ctypes.c_void_p, ctypes.c_int]
    swr.swr_convert.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
    ]
    avutil.av_opt_set_int.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int]
    avutil.av_opt_set_double.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_int]
    avutil.av_opt_set_chlayout.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(_ChannelLayout),
        ctypes.c_int,
    ]
    avutil.av_channel_layout_default.argtypes = [ctypes.POINTER(_ChannelLayout), ctypes.c_int]
    return swr, avutil


def input_format(fmt: WavInfo) -> int:
    """The AVSampleFormat FFmpeg's WAV decoder gives for this file (24-bit PCM comes as S32)."""
    if fmt.is_float:
        return _FLT if fmt.declared_bits == 32 else _DBL
    return {1: _U8, 2: _S16}.get(fmt.bits // 8, _S32)


class Resampler:
    """Interleaved samples of ``fmt`` in (``convert``), mono int16 at 11025 Hz out; ``flush``
    returns what the filter still holds at the end. Raises ``OSError`` if libswresample refuses."""

    def __init__(self, fmt: WavInfo):
        self._swr, avutil = load_libraries()
        self._ctx = ctypes.c_void_p(self._swr.swr_alloc())
        if not self._ctx:
            raise OSError("swr_alloc failed")
        self._in_size = {_U8: 1, _S16: 2, _S32: 4, _FLT: 4, _DBL: 8}[input_format(fmt)] * fmt.channels
        for name, value in (
            ("resampler", 0),
            ("filter_size", 16),
            ("phase_shift", 8),
            ("linear_interp", 1),
            ("isf", input_format(fmt)),
            ("isr", fmt.sample_rate),
            ("osf", _S16),
            ("osr", TARGET_RATE),
        ):
            avutil.av_opt_set_int(self._ctx, name.encode(), value, 0)
        avutil.av_opt_set_double(self._ctx, b"cutoff", 0.8, 0)
        for option, channels in ((b"ichl", fmt.channels), (b"ochl", 1)):  # FFmpeg's default layouts, as fpcalc's
            layout = _ChannelLayout()
            avutil.av_channel_layout_default(ctypes.byref(layout), channels)
            avutil.av_opt_set_chlayout(self._ctx, option, ctypes.byref(layout), 0)
        if (err := self._swr.swr_init(self._ctx)) < 0:
            self.close()
            raise OSError(f"swr_init failed ({err}) for {fmt.channels} channels at {fmt.sample_rate} Hz")

    def convert(self, samples: bytes | np.ndarray) -> bytes:
        """``samples``: whole interleaved frames in the input format, as a buffer."""
        view = np.frombuffer(samples, np.uint8)
        frames = len(view) // self._in_size
        return self._run(ctypes.c_void_p(view.ctypes.data) if frames else None, frames)

    def flush(self) -> bytes:
        return self._run(None, 0)

    def _run(self, data: ctypes.c_void_p | None, frames: int) -> bytes:
        out = np.empty(max(self._swr.swr_get_out_samples(self._ctx, frames), 0) + 16, "<i2")
        out_ptr = ctypes.c_void_p(out.ctypes.data)
        in_ptr = ctypes.byref(data) if data is not None else None
        made = self._swr.swr_convert(self._ctx, ctypes.byref(out_ptr), len(out), in_ptr, frames)
        if made < 0:
            raise OSError(f"swr_convert failed ({made})")
        return out[:made].tobytes()

    def close(self) -> None:
        if self._ctx:
            self._swr.swr_free(ctypes.byref(self._ctx))

    def __del__(self):
        self.close()
