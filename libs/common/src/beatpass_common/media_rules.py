"""BeatPass's audio and artwork rules: stable codes and the exact sentences a producer reads.

Every sentence says what was found and what is accepted. Codes never change once published
(the catalog and the upload page key on them); wording may improve. Validation judges with them
after a save, and the upload gateway with the same functions when an upload completes
(``beatpass_common.headers``), so a producer reads one sentence for one fault wherever it is found.
"""

from __future__ import annotations

from beatpass_common import sniff
from beatpass_common.config import Settings
from beatpass_common.events import Problem
from beatpass_common.sniff import Kind
from beatpass_common.wav import WavError, WavInfo

AUDIO, COVER = "audio", "cover"
ACCEPTED_DEPTHS = {("pcm", 16), ("pcm", 24), ("pcm", 32), ("float", 32)}
MAX_CHANNELS = 2
ACCEPTED_AUDIO = "BeatPass accepts 16, 24 or 32-bit PCM or 32-bit float WAV audio."

# WAVE format tags producers meet, for naming what a WAV file holds instead of PCM.
ENCODING_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "µ-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x00FF: "AAC",
    0x0161: "WMA",
    0x1610: "AAC",
    0x2000: "AC-3",
    0x2001: "DTS",
    0xF1AC: "FLAC",
    0xFFFE: "unrecognised extensible-format",
}


def _trim(x: float, places: int) -> str:
    return f"{x:,.{places}f}".rstrip("0").rstrip(".")


# A header can claim millions of years (an RF64 size table says up to 2^64 bytes); past this a
# duration is only said to be longer.
DURATION_SHOWN_MAX_H = 100


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'s' * (n != 1)}"


def duration(s: float) -> str:
    if s < 60:
        return f"{_trim(s, 2)} seconds"
    if s > DURATION_SHOWN_MAX_H * 3600:
        return f"more than {DURATION_SHOWN_MAX_H} hours"
    if s >= 3600:
        hours, minutes = divmod(round(s / 60), 60)
        return _count(hours, "hour") + (f" {_count(minutes, 'minute')}" if minutes else "")
    minutes, seconds = divmod(round(s), 60)
    return _count(minutes, "minute") + (f" {_count(seconds, 'second')}" if seconds else "")


def size(n: int) -> str:
    """Decimal (SI) units, as the upload page and file managers show a file's size: 25,376,283
    bytes is "25.4 MB" on the file card and in the sentence alike."""
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= factor:
            return f"{_trim(n / factor, 1)} {unit}"
    return f"{n:,} bytes"


def khz(rate: int) -> str:
    return f"{_trim(rate / 1000, 3)} kHz"


# --- audio -------------------------------------------------------------------------------------


def audio_missing() -> Problem:
    return Problem(
        code="AUDIO_MISSING", field=AUDIO, message="The audio upload could not be found. Upload the WAV file again."
    )


def audio_empty() -> Problem:
    return Problem(
        code="AUDIO_EMPTY", field=AUDIO, message="The audio file is empty (0 bytes). BeatPass accepts WAV audio only."
    )


def audio_too_large(n: int, limit: int) -> Problem:
    return Problem(
        code="AUDIO_TOO_LARGE",
        field=AUDIO,
        message=f"The audio file is {size(n)}. BeatPass accepts audio files up to {size(limit)}.",
    )


def not_wav(kind: Kind) -> Problem:
    if kind.name == "unknown":
        found = "This file is not WAV audio and its format was not recognised."
    else:
        found = f"This file is {kind.phrase}, not WAV."
    return Problem(code="AUDIO_NOT_WAV", field=AUDIO, message=f"{found} BeatPass accepts WAV audio only.")


def format_refusals() -> dict[str, dict[str, dict[str, str]]]:
    """The refusal of a file of each known kind in each slot, so the upload page refuses one from
    its first bytes before uploading it, in these words: ``{"audio": {name: {"code", "message"}},
    "cover": {...}}``; a kind the slot accepts is absent."""
    kinds = sniff.known_kinds()
    audio = {n: not_wav(k) for n, k in kinds.items() if n not in ("wav", "rf64")}
    cover = {n: cover_format(k) for n, k in kinds.items() if n not in ("jpeg", "png")}
    return {
        slot: {n: {"code": p.code, "message": p.message} for n, p in found.items()}
        for slot, found in (("audio", audio), ("cover", cover))
    }


def bad_header(detail: str) -> Problem:
    return Problem(
        code="AUDIO_BAD_HEADER",
        field=AUDIO,
        message=f"This WAV file's header is damaged: {detail}. Export the track again as a WAV file.",
    )


def missing_fmt() -> Problem:
    return Problem(
        code="AUDIO_MISSING_FMT",
        field=AUDIO,
        message="This WAV file has no format (fmt) chunk, so its audio cannot be read. "
        "Export the track again as a WAV file.",
    )


def missing_data() -> Problem:
    return Problem(
        code="AUDIO_MISSING_DATA",
        field=AUDIO,
        message="This WAV file has no audio (data) chunk. Export the track again as a WAV file.",
    )


def too_many_chunks(limit: int) -> Problem:
    return Problem(
        code="AUDIO_BAD_HEADER",
        field=AUDIO,
        message=f"This WAV file has more than {limit:,} chunks before its audio, so BeatPass does not "
        f"read it (WAV files have a handful). Export the track again as a WAV file.",
    )


def header_problems(err: WavError) -> list[Problem]:
    """What the common reader refused, in producer terms."""
    if err.chunk_limit is not None:
        return [too_many_chunks(err.chunk_limit)]
    if err.missing:
        return [{"fmt": missing_fmt, "data": missing_data}[name]() for name in err.missing]
    return [bad_header(err.detail)]


def layout(h: WavInfo) -> Problem:
    return Problem(
        code="AUDIO_LAYOUT",
        field=AUDIO,
        message=f"This WAV file's frame size ({h.declared_block_align} bytes) does not match its "
        f"{h.channels} channel{'s' * (h.channels != 1)} of {h.declared_bits}-bit samples "
        f"({h.block_align} bytes), so audio programs disagree on how to play it. "
        f"Export the track again as a standard WAV file. {ACCEPTED_AUDIO}",
    )


def encoding(tag: int) -> Problem:
    name = ENCODING_NAMES.get(tag, "non-PCM")
    return Problem(
        code="AUDIO_ENCODING",
        field=AUDIO,
        message=f"This WAV file holds {name} audio (format tag 0x{tag:04X}), not PCM. {ACCEPTED_AUDIO}",
    )


def bit_depth(enc: str, bits: int) -> Problem:
    found = f"{bits}-bit float" if enc == "float" else f"{bits}-bit PCM"
    return Problem(code="AUDIO_BIT_DEPTH", field=AUDIO, message=f"This WAV file is {found}. {ACCEPTED_AUDIO}")


def sample_rate(rate: int, lo: int, hi: int) -> Problem:
    return Problem(
        code="AUDIO_SAMPLE_RATE",
        field=AUDIO,
        message=f"This file's sample rate is {khz(rate)}. BeatPass accepts {khz(lo)} to {khz(hi)}.",
    )


def channels(n: int) -> Problem:
    return Problem(
        code="AUDIO_CHANNELS",
        field=AUDIO,
        message=f"This file has {n} channels. BeatPass accepts mono or stereo audio (1 or 2 channels).",
    )


def _length_rule(s: Settings) -> str:
    return f"BeatPass accepts tracks from {duration(s.audio_min_s)} to {duration(s.audio_max_s)} long."


def too_short(d: float, s: Settings) -> Problem:
    return Problem(code="AUDIO_TOO_SHORT", field=AUDIO, message=f"This track is {duration(d)} long. {_length_rule(s)}")


def too_long(d: float, s: Settings) -> Problem:
    return Problem(code="AUDIO_TOO_LONG", field=AUDIO, message=f"This track is {duration(d)} long. {_length_rule(s)}")


def truncated(declared_s: float, present_s: float) -> Problem:
    return Problem(
        code="AUDIO_TRUNCATED",
        field=AUDIO,
        message=f"The audio is cut short: the WAV header promises {duration(declared_s)} of audio but "
        f"the file holds only {duration(present_s)}. Upload the complete file.",
    )


def corrupt_float(at_s: float) -> Problem:
    return Problem(
        code="AUDIO_CORRUPT",
        field=AUDIO,
        message=f"This WAV file holds invalid float samples (not-a-number or infinite) at "
        f"{duration(at_s)}. Export the track again.",
    )


def float_out_of_range(peak_dbfs: float, limit_dbfs: float) -> Problem:
    return Problem(
        code="AUDIO_FLOAT_OUT_OF_RANGE",
        field=AUDIO,
        message=f"This track's float samples peak at {peak_dbfs:+,.1f} dBFS, above full scale "
        f"(0 dBFS). BeatPass accepts float audio peaking at most {limit_dbfs:+g} dBFS. "
        "Normalise the track to 0 dBFS and export it again.",
    )


def silent(peak_dbfs: float | None, threshold: float) -> Problem:
    found = "only digital silence" if peak_dbfs is None else f"no sound above {peak_dbfs:.1f} dBFS"
    return Problem(
        code="AUDIO_SILENT",
        field=AUDIO,
        message=f"This track is silent: it holds {found}. "
        f"BeatPass accepts audio whose peak is above {threshold:g} dBFS.",
    )


def format_problems(h: WavInfo, s: Settings) -> list[Problem]:
    """The rules a header (as the common reader returns it) can be judged on without decoding.

    Whatever passes here every later reader decodes (``WavInfo.undecodable`` is the last check).
    """
    out = []
    why = h.undecodable()
    if h.encoding is None:
        out.append(encoding(h.format_tag))
    elif h.channels < 1 and why is not None:
        out.append(bad_header(why))
    elif (h.encoding, h.bits) not in ACCEPTED_DEPTHS:
        out.append(bit_depth(h.encoding, h.bits))
    elif h.declared_block_align != h.block_align:
        out.append(layout(h))
    elif why is not None:
        out.append(bad_header(why))
    if not s.sample_rate_min <= h.sample_rate <= s.sample_rate_max:
        out.append(sample_rate(h.sample_rate, s.sample_rate_min, s.sample_rate_max))
    if h.channels > MAX_CHANNELS:
        out.append(channels(h.channels))
    if not (h.block_align and h.sample_rate):  # no frame size or rate: the header says no length
        return out
    declared = h.declared_duration_s  # not None when truncated: the size, frame size and rate are known
    if h.truncated and declared is not None:
        out.append(truncated(declared, h.duration_s))
    d = declared if h.truncated and declared is not None else h.duration_s
    if d < s.audio_min_s:
        out.append(too_short(d, s))
    elif d > s.audio_max_s:
        out.append(too_long(d, s))
    return out


# --- cover -------------------------------------------------------------------------------------

ACCEPTED_COVER = "BeatPass accepts JPEG or PNG cover art only."


def cover_missing() -> Problem:
    return Problem(
        code="COVER_MISSING", field=COVER, message="The cover art upload could not be found. Upload the image again."
    )


def cover_empty() -> Problem:
    return Problem(code="COVER_EMPTY", field=COVER, message=f"The cover art file is empty (0 bytes). {ACCEPTED_COVER}")


def cover_too_large(n: int, limit: int) -> Problem:
    return Problem(
        code="COVER_TOO_LARGE",
        field=COVER,
        message=f"The cover art file is {size(n)}. BeatPass accepts cover art files up to {size(limit)}.",
    )


def cover_format(kind: Kind) -> Problem:
    found = (
        "This file is not a recognised image."
        if kind.name == "unknown"
        else f"This file is {kind.phrase}, not JPEG or PNG."
    )
    return Problem(code="COVER_NOT_JPEG_OR_PNG", field=COVER, message=f"{found} {ACCEPTED_COVER}")


def cover_polyglot(kind: Kind, what: str) -> Problem:
    return Problem(
        code="COVER_POLYGLOT",
        field=COVER,
        message=f"This image is {kind.phrase} that also contains {what}. "
        "BeatPass accepts plain JPEG or PNG images only; export the artwork again.",
    )


def cover_corrupt(kind: Kind) -> Problem:
    return Problem(
        code="COVER_CORRUPT",
        field=COVER,
        message=f"This image could not be read: {kind.phrase} that is damaged or cut short. Export the artwork again.",
    )


def cover_too_complex(kind: Kind, what: str, limit: int) -> Problem:
    """``what``: "scans" (JPEG), "chunks" (PNG) or "marker segments" (JPEG)."""
    return Problem(
        code="COVER_TOO_COMPLEX",
        field=COVER,
        message=f"This image is {kind.phrase} with more than {limit:,} {what}; BeatPass accepts "
        f"{kind.name.upper()} images with at most {limit:,}. "
        "Save it again as a standard JPEG or PNG.",
    )


def cover_too_slow(limit_s: float) -> Problem:
    return Problem(
        code="COVER_TOO_COMPLEX",
        field=COVER,
        message=f"This image took longer than {_trim(limit_s, 1)} seconds to read, far longer than cover "
        "art takes. Save it again as a standard JPEG or PNG.",
    )


def _cover_size_rule(s: Settings) -> str:
    return (
        f"BeatPass accepts square cover art from {s.cover_min_px:,} × {s.cover_min_px:,} "
        f"to {s.cover_max_px:,} × {s.cover_max_px:,} pixels."
    )


def cover_dimensions(w: int, h: int, s: Settings) -> Problem:
    return Problem(
        code="COVER_DIMENSIONS", field=COVER, message=f"This image is {w:,} × {h:,} pixels. {_cover_size_rule(s)}"
    )


def cover_not_square(w: int, h: int, s: Settings) -> Problem:
    return Problem(
        code="COVER_NOT_SQUARE",
        field=COVER,
        message=f"This image is {w:,} × {h:,} pixels, which is not square. BeatPass accepts square "
        f"cover art (width and height within {_trim(s.cover_square_tolerance * 100, 2)} % "
        "of each other).",
    )


def cover_size_problems(w: int, h: int, s: Settings) -> list[Problem]:
    """The rules a cover's dimensions (pixels, as its header gives them) are judged on."""
    problems = []
    if min(w, h) < s.cover_min_px or max(w, h) > s.cover_max_px:
        problems.append(cover_dimensions(w, h, s))
    if abs(w - h) > s.cover_square_tolerance * max(w, h):
        problems.append(cover_not_square(w, h, s))
    return problems
