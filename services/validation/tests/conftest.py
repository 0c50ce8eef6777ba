"""Generators for the test corpus: WAV files written byte by byte (so every header field can lie),
beat-like music with a known tempo and key, cover images, and a track.submitted to run them."""

from __future__ import annotations

import io
import struct
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from beatpass_common.events import ObjectRef, TrackMetadata, TrackSubmitted, new_event
from beatpass_common.storage import LocalStore

EXTENSIBLE_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def music(
    seconds: float = 11.0, rate: int = 44100, channels: int = 2, bpm: float = 120.0, amplitude: float = 0.5
) -> np.ndarray:
    """A kick on every beat over an A minor chord: clear tempo, clear key. Float64 (n, channels)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63, 440.0)) / 4
    beat = t % (60.0 / bpm)
    kick = np.sin(2 * np.pi * 60 * beat) * np.exp(-beat * 30)
    hat = np.random.default_rng(0).standard_normal(n) * np.exp(-((t + 30 / bpm) % (60 / bpm)) * 80) * 0.3
    mono = amplitude * (0.35 * chord + 0.5 * kick + 0.15 * hat)
    return np.repeat(mono[:, None], channels, axis=1)


def pcm_bytes(x: np.ndarray, enc: str, bits: int) -> bytes:
    if enc == "float":
        return x.astype("<f4" if bits == 32 else "<f8").tobytes()
    full = 2 ** (bits - 1)
    ints = np.clip(np.round(x * full), -full, full - 1).astype(np.int64)
    if bits == 8:
        return (ints + 128).astype(np.uint8).tobytes()
    raw = ints.astype("<i4").view(np.uint8).reshape(-1, 4)
    return raw[:, : bits // 8].tobytes()


def fmt_chunk(channels: int, rate: int, bits: int, tag: int = 1, extensible: bool = False) -> bytes:
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:
        mask = 0x3 if channels == 2 else 0x4
        body += struct.pack("<HHI", 22, bits, mask) + struct.pack("<H", tag) + EXTENSIBLE_GUID_TAIL
    return body


def chunk(cid: bytes, body: bytes, pad: bool = True) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\x00" if pad and len(body) % 2 else b"")


def wav(
    x: np.ndarray | None = None,
    rate: int = 44100,
    *,
    enc: str = "pcm",
    bits: int = 16,
    tag: int | None = None,
    extensible: bool = False,
    rf64: bool = False,
    before: list[bytes] = (),
    after: list[bytes] = (),
    data_size: int | None = None,
    fmt: bytes | None = None,
    omit_fmt: bool = False,
    omit_data: bool = False,
    fmt_after_data: bool = False,
) -> bytes:
    """A WAV file; ``before``/``after`` are extra chunks around the data, ``data_size`` lies in the header."""
    x = music(rate=rate) if x is None else x
    channels = x.shape[1]
    tag = tag if tag is not None else (3 if enc == "float" else 1)
    audio = pcm_bytes(x, enc, bits)
    fmt_c = chunk(b"fmt ", fmt if fmt is not None else fmt_chunk(channels, rate, bits, tag, extensible))
    declared = len(audio) if data_size is None else data_size
    if rf64:
        data_c = b"data" + struct.pack("<I", 0xFFFFFFFF) + audio + (b"\x00" if len(audio) % 2 else b"")
        ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, declared, len(audio) // (bits // 8 * channels), 0))
        chunks = [ds64]
    else:
        data_c = b"data" + struct.pack("<I", declared) + audio + (b"\x00" if len(audio) % 2 else b"")
        chunks = []
    chunks += list(before)
    if not omit_fmt and not fmt_after_data:
        chunks.append(fmt_c)
    if not omit_data:
        chunks.append(data_c)
    if fmt_after_data:
        chunks.append(fmt_c)
    chunks += list(after)
    body = b"WAVE" + b"".join(chunks)
    return (b"RF64" + struct.pack("<I", 0xFFFFFFFF) if rf64 else b"RIFF" + struct.pack("<I", len(body))) + body


def image_bytes(size=(1200, 1200), mode: str = "RGB", fmt: str = "PNG", color=(200, 30, 60), **save) -> bytes:
    img = Image.new("RGB", size, color)
    img.paste((20, 40, 220), (0, 0, size[0] // 2, size[1]))  # left half blue: orientation is visible
    if mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


METADATA = TrackMetadata(
    title="Night Drive", artists=["Kay"], bpm=120, key="A", scale="minor", licensing="non_exclusive"
)


def put(store, settings, key: str, data: bytes) -> ObjectRef:
    store.ensure_bucket(settings.uploads_bucket)
    result = store.put_bytes(settings.uploads_bucket, key, data)
    return ObjectRef(bucket=settings.uploads_bucket, key=key, size=result.size, sha256=result.sha256)


def submitted(store, settings, audio: bytes | None, cover: bytes | None, *, bpm: int = 120, track_id: str = "t1"):
    """A track.submitted event whose objects hold ``audio`` and ``cover`` (None: never uploaded)."""
    refs = {}
    for name, data in (("audio", audio), ("cover", cover)):
        key = f"producers/p1/uploads/{track_id}-{name}"
        refs[name] = (
            put(store, settings, key, data)
            if data is not None
            else ObjectRef(bucket=settings.uploads_bucket, key=key, size=0)
        )
    data = TrackSubmitted(audio=refs["audio"], cover=refs["cover"], metadata=METADATA.model_copy(update={"bpm": bpm}))
    return new_event("track.submitted", data, producer_id="p1", track_id=track_id)


@pytest.fixture(scope="session")
def encoded(tmp_path_factory):
    """``encoded(ext, *sox_args)``: one second of music converted by a real encoder (lame for
    mp3, sox for the rest), cached for the session."""
    root = tmp_path_factory.mktemp("encoded")
    source = root / "source.wav"
    source.write_bytes(wav(music(1.0)))
    cache: dict = {}

    def make(ext: str, *args: str) -> bytes:
        key = (ext, args)
        if key not in cache:
            out = root / f"out{len(cache)}.{ext}"
            if ext == "mp3":
                subprocess.run(["lame", "--quiet", *args, str(source), str(out)], check=True)
            else:
                subprocess.run(["sox", str(source), *args, str(out)], check=True)
            cache[key] = out.read_bytes()
        return cache[key]

    return make


@pytest.fixture
def gen():
    return SimpleNamespace(
        music=music,
        wav=wav,
        chunk=chunk,
        fmt_chunk=fmt_chunk,
        pcm_bytes=pcm_bytes,
        image=image_bytes,
        submitted=submitted,
        put=put,
    )


@pytest.fixture
def store(settings):
    local = LocalStore(settings.var_dir / "objects")
    local.ensure_bucket(settings.uploads_bucket)
    local.ensure_bucket(settings.media_bucket)
    return local
