"""The exact PCM hash over a file's blocks as read (``ExactHash``; ``LegacyHash``: the old scheme).

What the hash promises: the same sample values at the same rate and channel count hash the same
whatever the container (header layout, metadata chunks, RIFF or RF64, sample width: a 16-bit file
re-saved as 24-bit, 32-bit or float hashes as the 16-bit file does, because its values are exact
in each); other values, another rate or another channel count hash differently.

Scheme 2 (``SCHEME``): BLAKE3 of ``beatpass-pcm-2:{form}:{rate}:{channels}:`` followed by the
interleaved samples in their canonical form, the first of ``i16``, ``i24``, ``i32`` that holds
every sample of the file exactly (value · 2^15, 2^23 or 2^31 an integer in range), as
little-endian integers (``i24`` in 3 bytes), else ``f32`` (float audio, as float32). For a 16-bit
file the samples hashed are its data chunk's bytes as they are. The form is known only at the
end, so each form still possible is hashed while reading; the wider ones stop at the first sample
that does not fit them.

Scheme 1 (``LegacyHash``): sha256 of ``pcm-f32le:{rate}:{channels}:`` and the samples as float32,
what rows fingerprinted before scheme 2 hold (see docs/fingerprint-matching.md, "Exact hash").
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

import blake3
import numpy as np

from beatpass_common.wav import WavInfo, iter_frames, samples_float32

from .wav import open_wav

SCHEME = 2
LEGACY_SCHEME = 1
NO_HASH = 0  # a scheme-1 row whose audio is gone: it matches acoustically only (rehash.py)
_FORMS = ("i16", "i24", "i32", "f32")
_SCALE = {"i16": 2.0**15, "i24": 2.0**23, "i32": 2.0**31}


class ExactHash:
    """Scheme 2 over a file's blocks: ``update(raw)`` per block of whole frames as read, then
    ``hexdigest()``. A 16-bit file's blocks are hashed as they are, without a copy."""

    def __init__(self, fmt: WavInfo):
        self._fmt = fmt
        native = "f32" if fmt.is_float else {8: "i16", 16: "i16", 24: "i24"}.get(fmt.bits, "i32")
        forms = _FORMS[: _FORMS.index(native) + 1]
        self._hashes = {
            form: blake3.blake3(f"beatpass-pcm-{SCHEME}:{form}:{fmt.sample_rate}:{fmt.channels}:".encode())
            for form in forms
        }

    def update(self, raw: bytes) -> None:
        fmt, alive = self._fmt, self._hashes
        if fmt.is_float:
            values = samples_float32(raw, fmt)
            alive["f32"].update(raw if fmt.declared_bits == 32 else values.view(np.uint8).data)
            for form in ("i32", "i24", "i16"):  # i16-exact values are i24-exact, and those i32-exact
                if form not in alive:
                    continue
                exact = self._exact_ints(values, form)
                if exact is None:
                    for narrower in _FORMS[: _FORMS.index(form) + 1]:
                        alive.pop(narrower, None)
                    break
                alive[form].update(exact)
            return
        width = fmt.bits // 8
        if width == 1:  # unsigned 8-bit: always exact as i16
            alive["i16"].update(
                ((np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8).astype("<i2").view(np.uint8).data
            )
            return
        alive[{2: "i16", 3: "i24", 4: "i32"}[width]].update(raw)
        if width > 2:
            data = np.frombuffer(raw, np.uint8).reshape(-1, width)
            if "i16" in alive:
                if data[:, : width - 2].any():
                    del alive["i16"]
                else:
                    alive["i16"].update(np.ascontiguousarray(data[:, width - 2 :]).data)  # the top two bytes
            if width == 4 and "i24" in alive:
                if data[:, 0].any():
                    del alive["i24"]
                else:
                    alive["i24"].update(np.ascontiguousarray(data[:, 1:]).data)

    @staticmethod
    def _exact_ints(values: np.ndarray, form: str) -> bytes | None:
        """The float samples as ``form`` integers when every one of them is exactly such an integer."""
        scale = _SCALE[form]
        with np.errstate(invalid="ignore", over="ignore"):
            scaled = values.astype(np.float64) * scale  # exact: a power of two, and float64 is wider
            if not (np.all(np.rint(scaled) == scaled) and np.all(scaled >= -scale) and np.all(scaled < scale)):
                return None
        ints = scaled.astype("<i4")
        if form == "i24":
            return np.ascontiguousarray(ints.view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()
        return ints.astype("<i2").tobytes() if form == "i16" else ints.tobytes()

    def hexdigest(self) -> str:
        return next(self._hashes[f] for f in _FORMS if f in self._hashes).hexdigest()


class LegacyHash:
    """Scheme 1: sha256 over the float32 samples, computed only while old index rows hold it."""

    def __init__(self, fmt: WavInfo):
        self._fmt = fmt
        self._sha = hashlib.sha256(f"pcm-f32le:{fmt.sample_rate}:{fmt.channels}:".encode())

    def update(self, raw: bytes) -> None:
        self._sha.update(samples_float32(raw, self._fmt).data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def exact_hash(stream: BinaryIO) -> str:
    """Scheme 2 of a WAV stream, without the fingerprint. Raises ``Unreadable`` as ``open_wav``."""
    fmt = open_wav(stream)
    digest = ExactHash(fmt)
    for block in iter_frames(stream, fmt):
        digest.update(block)
    return digest.hexdigest()
