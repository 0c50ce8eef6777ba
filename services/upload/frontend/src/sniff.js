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
