"""The audio check: from an object reference to AudioFacts or the problems a producer must fix.

Order matters for cost: size from stat, then the first bytes (real format), then the chunk
headers, then one streaming decode pass only when the header can be decoded within the rules'
length. Audio that passed everything keeps a few excerpts for the tempo/key estimate, which
runs apart (``estimated``) under its own time limit: it is optional, the checks are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from beatpass_common.config import Settings
from beatpass_common.events import AudioFacts, ObjectRef, Problem
from beatpass_common.headers import audio_header
from beatpass_common.storage import ObjectNotFound, ObjectStore
from beatpass_common.wav import WavInfo

from . import musical, rules
from .decode import decode


@dataclass
class AudioResult:
    facts: AudioFacts | None = None
    problems: list[Problem] = field(default_factory=list)
    excerpts: list[musical.Excerpt] = field(default_factory=list)  # for ``estimated``, when facts is set


def check_audio(store: ObjectStore, ref: ObjectRef, settings: Settings) -> AudioResult:
    """The audio's facts (without the estimate) and excerpts, or the problems a producer must fix."""
    try:
        size = store.stat(ref.bucket, ref.key).size
    except ObjectNotFound:
        return AudioResult(problems=[rules.audio_missing()])
    # Size, real format and header: the very look the gateway takes when the upload completes.
    head = audio_header(store, ref.bucket, ref.key, size, settings)
    header, problems = head.info, head.problems
    if header is None:
        return AudioResult(problems=problems)
    decodable = (header.encoding, header.bits) in rules.ACCEPTED_DEPTHS and header.undecodable() is None
    if not decodable or header.frames == 0 or header.duration_s > settings.audio_max_s:
        return AudioResult(problems=problems)
    return _decode_and_judge(store, ref, header, problems, settings)


def _decode_and_judge(store, ref, header: WavInfo, problems: list[Problem], settings: Settings) -> AudioResult:
    # Excerpts are only worth keeping when the track may pass.
    excerpts = (
        [] if problems else musical.excerpts(header.frames or 0, header.sample_rate)
    )  # known: read_info had the size
    with store.open(ref.bucket, ref.key, header.data_offset, header.available_bytes) as stream:
        stats = decode(stream, header, excerpts=excerpts)
    peak = stats.peak_dbfs  # None: no finite sample
    if stats.short_read and not header.truncated:
        problems.append(rules.truncated(header.duration_s, stats.frames / header.sample_rate))
    if stats.nonfinite_at_s is not None:
        problems.append(rules.corrupt_float(stats.nonfinite_at_s))
    elif header.is_float and peak is not None and peak > settings.float_peak_max_dbfs:
        problems.append(rules.float_out_of_range(peak, settings.float_peak_max_dbfs))
    elif peak is None or peak < settings.silence_dbfs:
        problems.append(rules.silent(peak, settings.silence_dbfs))
    if problems or peak is None:  # no peak: silent, a problem
        return AudioResult(problems=problems)
    facts = AudioFacts(
        format=f"{header.container} {'PCM' if header.encoding == 'pcm' else 'float'}",
        sample_rate=header.sample_rate,
        bit_depth=header.bits,
        channels=header.channels,
        duration_s=round(header.duration_s, 6),
        loudness_lufs=None if stats.loudness_lufs is None else round(stats.loudness_lufs, 2),
        peak_dbfs=round(peak, 2),
        clipped_ratio=stats.clipped_ratio,
    )
    return AudioResult(facts=facts, excerpts=excerpts)


def estimated(facts: AudioFacts, excerpts: list[musical.Excerpt], settings: Settings) -> AudioFacts:
    """``facts`` with the tempo (BPM) and key estimated from ``excerpts``."""
    est = musical.estimate(excerpts, bpm_min=settings.bpm_min, bpm_max=settings.bpm_max)
    return facts.model_copy(
        update={
            "estimated_bpm": est.bpm,
            "bpm_confidence": est.bpm_confidence,
            "estimated_key": est.key,
            "key_confidence": est.key_confidence,
        }
    )
