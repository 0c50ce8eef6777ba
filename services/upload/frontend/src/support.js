// "Copy details for support": BeatPass's help page asks producers to send the exact error message,
// the file name and format, whether it was a single track or a collection, and a screenshot. The
// button copies exactly that, plus the codes, the ids and the gateway's request id.
import { h, append, clear, uid } from "./dom.js";

export const SCREENSHOT_NOTE = "Please attach a screenshot of this page when you send this to BeatPass support.";

/**
 * The text support needs. `d`: {errors: [{code, message}], warnings: [...], files: [{role, name,
 * format}], mode: "single track" | "collection", collectionTitle, trackId, collectionId,
 * uploadIds: {audio, cover}, requestId}. Blank parts are left out.
 */
export function supportText(d) {
  const lines = ["BeatPass upload — details for support"];
  for (const e of d.errors || []) lines.push(`Error: ${e.message}${e.code ? ` [${e.code}]` : ""}`);
  for (const w of d.warnings || []) lines.push(`Warning: ${w.message}${w.code ? ` [${w.code}]` : ""}`);
  for (const f of d.files || []) {
    if (f?.name || f?.format) lines.push(`${f.role || "File"}: ${f.name || "(name unknown)"}${f.format ? ` (${String(f.format).toUpperCase()})` : ""}`);
  }
  if (d.mode) lines.push(`Upload type: ${d.mode === "collection" ? `collection${d.collectionTitle ? ` “${d.collectionTitle}”` : ""}` : "single track"}`);
  if (d.trackId) lines.push(`Track id: ${d.trackId}`);
  if (d.collectionId) lines.push(`Collection id: ${d.collectionId}`);
  const uploads = Object.entries(d.uploadIds || {}).filter(([, id]) => id).map(([kind, id]) => `${kind} ${id}`);
  if (uploads.length) lines.push(`Upload ids: ${uploads.join(", ")}`);
  lines.push(`Request id: ${d.requestId || "none yet"}`);
  lines.push(`Time: ${new Date().toISOString()}`);
  lines.push(`Page: ${location.origin}${location.pathname}`);
  lines.push(SCREENSHOT_NOTE);
  return lines.join("\n");
}

/** A "Copy details for support" button with its confirmation; `details()` gives supportText's input. */
export function supportButton(details) {
  const note = h("span", { class: "support-note", role: "status" });
  const box = h("div", { class: "support" });
  const button = h("button", { type: "button", class: "link-button", "data-focus": "support", onclick: async () => {
    const text = supportText(details());
    try {
      await navigator.clipboard.writeText(text);
      note.textContent = "Copied. Paste it into your message to support and attach a screenshot of this page.";
    } catch {
      // No clipboard (an insecure page, a refusal): the text to copy by hand.
      const id = uid("support-text");
      note.textContent = "Copy this text by hand, and attach a screenshot of this page:";
      const area = h("textarea", { id, class: "support-text", readonly: true, rows: 8 });
      area.value = text;
      clear(box, button, note, h("label", { for: id, class: "visually-hidden" }, "Details for support"), area);
      area.select();
    }
  } }, "Copy details for support");
  return append(box, [button, note]);
}
