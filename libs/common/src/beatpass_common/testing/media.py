"""Test media made on the fly: WAV files of any format and cover images."""

from __future__ import annotations

import io
import struct

import numpy as np


def music(seconds: float, rate: int = 44_100, channels: int = 2, seed: int = 1) -> np.ndarray:
    """A few seconds of beat-like float audio in [-1, 1]: kick, hats and a melody (seeded)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    bpm = 80 + 60 * rng.random()
    beat = 60.0 / bpm
    phase = (t % beat) / beat
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-phase * 18)
    hats = rng.standard_normal(n) * np.exp(-((t % (beat / 2)) / (beat / 2)) * 40) * 0.15
    notes = 220 * 2 ** (rng.integers(0, 12, size=int(seconds / beat) + 2) / 12)
    melody = 0.25 * np.sin(2 * np.pi * notes[(t / beat).astype(int)] * t)
    mono = 0.5 * (kick + hats + melody)
    out = np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return np.clip(out, -1, 1)


def wav_bytes(
    samples: np.ndarray,
    rate: int = 44_100,
    bits: int = 16,
    *,
    float_: bool = False,
    extensible: bool = False,
    rf64: bool = False,
) -> bytes:
    """Encode float samples (frames x channels) as a WAV file."""
    samples = samples if samples.ndim == 2 else samples[:, None]
    channels = samples.shape[1]
    if float_:
        data = samples.astype("<f4").tobytes()
        bits = 32
    elif bits == 16:
        data = (samples * 32767).astype("<i2").tobytes()
    elif bits == 24:
        ints = (samples * 8388607).astype("<i4")
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    elif bits == 32:
        data = (samples * 2147483647).astype("<i4").tobytes()
    else:
        raise ValueError(bits)
    align = channels * bits // 8
    tag = 3 if float_ else 1
    if extensible:
        sub = struct.pack("<HI", bits, (1 << channels) - 1)
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = (
            struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * align, align, bits)
            + struct.pack("<H", 22)
            + sub
            + guid
        )
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = (
        b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF if rf64 else len(data))
        + data
    )
    if len(data) % 2:
        body += b"\x00"
    if rf64:
        ds64 = b"ds64" + struct.pack("<IQQQI", 28, 4 + len(body) + 36, len(data), len(samples), 0)
        return b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + ds64 + body
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def beat_wav(seconds: float = 12.0, seed: int = 1, rate: int = 44_100, bits: int = 16, channels: int = 2) -> bytes:
    return wav_bytes(music(seconds, rate, channels, seed), rate, bits)


def left_justified_pcm_wav(x: np.ndarray, bits: int, container: int, rate: int = 48_000) -> bytes:
    """``bits``-bit PCM samples left-justified in ``container``-bit slots, as recorders write
    them, in a plain RIFF WAV that declares ``bits`` and a frame of ``container`` bits a channel.
    ``x`` is float (frames x channels) in [-1, 1]."""
    q = np.round(x * (2 ** (bits - 1) - 1)).astype(np.int64) << (container - bits)
    data = q.astype("<i8").view(np.uint8).reshape(-1, 8)[:, : container // 8].tobytes()
    align = container // 8 * x.shape[1]
    fmt = struct.pack("<HHIIHH", 1, x.shape[1], rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def odd_pcm_layouts(seconds: float = 12.0, rate: int = 48_000) -> dict[str, bytes]:
    """The two WAVs of the shared case odd_pcm_layouts.py, byte for byte (stereo, 48 kHz, 12 s):
    20-bit samples in 3-byte containers (validation accepts it as 24-bit PCM) and 24-bit samples
    in 8-byte stereo frames (a frame size readers disagree on: AUDIO_LAYOUT)."""

    def music(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        t = np.arange(int(rate * seconds)) / rate
        beat = 60 / 104
        kick = np.exp(-((t % beat) * 25)) * np.sin(2 * np.pi * 55 * t)
        notes = rng.choice([220, 247, 262, 294, 330, 392], size=int(seconds / beat) + 2)
        x = 0.5 * kick + 0.3 * np.sin(2 * np.pi * notes[(t / beat).astype(int)] * t)
        x = 0.8 * x / np.abs(x).max()
        return np.stack([x, 0.9 * x], 1)

    return {
        "pcm20_in_3_bytes.wav": left_justified_pcm_wav(music(1), 20, 24, rate),
        "pcm24_in_8_byte_frames.wav": left_justified_pcm_wav(music(2), 24, 32, rate),
    }


def cover_bytes(size: int = 1400, fmt: str = "JPEG", color=(200, 40, 90), height: int | None = None) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, height or size), color)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(250, 220, 60))
    out = io.BytesIO()
    image.save(out, fmt, quality=85) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()
