// What a picked file really is, from its first bytes (a renamed MP3 is still an MP3), so the
// file card's badge never repeats a misleading extension. The gateway's inspection of the
// finished upload has the last word (its `format` replaces this guess).

const MAGIC = [
  [[0x52, 0x49, 0x46, 0x46], (b) => (tag(b, 8) === "WAVE" ? "wav" : tag(b, 8) === "WEBP" ? "webp" : tag(b, 8) === "AVI " ? "avi" : null)],
  [[0x52, 0x46, 0x36, 0x34], () => "wav"], // RF64
  [[0x42, 0x57, 0x36, 0x34], () => "wav"], // BW64
  [[0x66, 0x4c, 0x61, 0x43], () => "flac"],
  [[0x4f, 0x67, 0x67, 0x53], () => "ogg"],
  [[0x49, 0x44, 0x33], () => "mp3"], // an ID3 tag; what follows is MP3 in practice
  [[0xff, 0xd8, 0xff], () => "jpeg"],
  [[0x89, 0x50, 0x4e, 0x47], () => "png"],
  [[0x47, 0x49, 0x46, 0x38], () => "gif"],
  [[0x46, 0x4f, 0x52, 0x4d], (b) => (tag(b, 8) === "AIFF" || tag(b, 8) === "AIFC" ? "aiff" : null)],
  [[0x25, 0x50, 0x44, 0x46], () => "pdf"],
  [[0x50, 0x4b, 0x03, 0x04], () => "zip"],
];

function tag(bytes, at) {
  return bytes.length >= at + 4 ? String.fromCharCode(...bytes.subarray(at, at + 4)) : "";
}

/** The short format name of these first bytes ("wav", "mp3", "jpeg", ...), or null. */
export function formatOf(bytes) {
  for (const [sig, name] of MAGIC) {
    if (bytes.length >= sig.length && sig.every((v, i) => bytes[i] === v)) {
      const found = name(bytes);
      if (found) return found;
    }
  }
  if (tag(bytes, 4) === "ftyp") return "m4a";
  if (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1] & 0xf6) === 0xf0) return "aac"; // ADTS
  if (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0) return "mp3"; // frame sync
  return null;
}

/**
 * The format of `file` only when its bytes plainly show it (a signature at its start, or the
 * audio behind a leading ID3 tag), so a slot can refuse it before uploading it; null otherwise
 * (bare MPEG frames and unknown bytes are left to the gateway's inspection). Names are
 * beatpass_common.sniff's, the keys of /rules' format_refusals.
 */
export async function plainFormat(file) {
  try {
    const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    if (head.length >= 10 && head[0] === 0x49 && head[1] === 0x44 && head[2] === 0x33 && !head.subarray(6, 10).some((b) => b & 0x80)) {
      const size = 10 + ((head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]) + (head[5] & 0x10 ? 10 : 0);
      const inner = new Uint8Array(await file.slice(size, size + 16).arrayBuffer());
      const signed = signature(inner);
      if (signed) return signed;
      return inner.length >= 2 && inner[0] === 0xff && (inner[1] & 0xf6) === 0xf0 ? "aac" : "mp3"; // ID3 is MP3's convention
    }
    const found = signature(head);
    if (found === "aiff" && tag(head, 8) === "AIFC") return "aifc";
    if (found === "ogg") { // the codec inside, as the gateway names it
      const text = String.fromCharCode(...new Uint8Array(await file.slice(0, 512).arrayBuffer()));
      return text.includes("OpusHead") ? "opus" : text.includes("\x01vorbis") ? "vorbis" : text.includes("\x7fFLAC") ? "oggflac" : "ogg";
    }
    if (found === "wav" && tag(head, 0) !== "RIFF") return "rf64";
    return found;
  } catch {
    return null;
  }
}

function signature(bytes) {
  for (const [sig, name] of MAGIC) {
    if (bytes.length >= sig.length && sig.every((v, i) => bytes[i] === v) && sig.length > 3) {
      const found = name(bytes);
      if (found) return found;
    }
  }
  if (bytes.length >= 3 && [0xff, 0xd8, 0xff].every((v, i) => bytes[i] === v)) return "jpeg";
  return null;
}

export async function sniffFile(file) {
  try {
    return formatOf(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
  } catch {
    return null;
  }
}

/** The badge text of a format name: "WAV", "MP3", "JPEG"; "?" when unknown. */
export function formatLabel(name) {
  return name ? String(name).toUpperCase() : "?";
}
