// The track form: file slots (drag-and-drop or pick, with tus progress and the gateway's
// inspection) and the metadata fields, checked with the API's own rules and sentences
// (GET /api/v1/rules).
import { h, uid, formatBytes, clock, clockUp, splitList, hideKeepingFocus, quotaMessage, remainingSeconds, fitsMinutes } from "./dom.js";
import { FileUpload, wavDuration } from "./uploads.js";
import { formatLabel, plainFormat, sniffFile } from "./sniff.js";
import { supportButton } from "./support.js";

const LICENSING_LABELS = { non_exclusive: "Non-exclusive", exclusive: "Exclusive", free_download: "Free download" };
const SCALE_LABELS = { major: "Major", minor: "Minor" };
export const METADATA_FIELDS = ["title", "artists", "bpm", "key", "scale", "licensing", "description", "genres", "tags", "mood"];
const LIST_FIELDS = new Set(["artists", "genres", "tags"]);
// Fields a collection can copy from one track to all the others.
export const APPLY_ALL_FIELDS = ["artists", "licensing", "key", "scale"];
const FIELD_LABELS = { title: "Title", artists: "Artists", bpm: "BPM", key: "Key", scale: "Scale", licensing: "Licensing",
  description: "Description", genres: "Genres", tags: "Tags", mood: "Mood" };
const PREVIEWABLE = new Set(["jpeg", "png", "gif", "webp"]);
// Codes the page itself uses for reasons that are not a field's own message.
const PAGE_CODES = new Set(["UPLOADING", "SERVER", "CHECKING"]);

/** A track title from a file name: "Night_Drive.wav" -> "Night Drive". */
export function titleFromFile(name) {
  return name.replace(/\.[^.]+$/, "").replace(/[_]+/g, " ").trim();
}

// Per-item text limits of the gateway's field rules (fields.py NAME_MAX, GENRE_MAX, TAG_MAX,
// MOOD_MAX, DESCRIPTION_MAX), for a gateway whose /rules does not send text_max yet.
const TEXT_MAX = { artist: 100, genre: 40, tag: 40, mood: 50, description: 2000 };

/** The per-item text limits: /rules' text_max, each missing one from TEXT_MAX. */
export function textMax(rules) {
  return { ...TEXT_MAX, ...(rules.text_max || {}) };
}

/** Characters as the API counts them (Python's len: code points, so an emoji is one, not two). */
export const chars = (text) => [...(text || "")].length;

/**
 * TEXT_DIRECTION_CONTROL with the API's sentence (/rules' text_direction: its characters, its
 * sentence filled with the field's label) for each text field of `values` that holds one.
 * `labels`: {field: label}, the track fields' by default.
 */
export function directionProblems(values, rules, labels = rules.text_direction?.labels || {}) {
  const rule = rules.text_direction;
  if (!rule) return [];
  const bad = (text) => typeof text === "string" && [...text].some((ch) => rule.characters.includes(ch));
  return Object.entries(labels)
    .filter(([field]) => [values[field]].flat().some(bad))
    .map(([field, label]) => ({ field, code: "TEXT_DIRECTION_CONTROL", message: rule.sentence.replace("{label}", label) }));
}

/** A collection title's problem (check_collection_title), in the API's words; null when it has none. */
export function collectionTitleProblem(text, rules) {
  const m = rules.messages;
  const title = text.trim();
  if (!title) return { code: "COLLECTION_TITLE_REQUIRED", message: m.COLLECTION_TITLE_REQUIRED };
  if (chars(title) > rules.title_max) return { code: "TITLE_TOO_LONG", message: m.TITLE_TOO_LONG };
  const label = rules.text_direction?.collection_label;
  return label ? directionProblems({ title }, rules, { title: label })[0] || null : null;
}

/**
 * The API's field checks (services/upload fields.check_track_fields), worded with the API's
 * sentences. `only`: the fields an edit gives (a Set): an edit is judged on those alone, as the
 * API does (editing.edited_fields), so a stored value never blocks changing another field.
 */
export function checkFields(values, rules, { coverDefault = false, uploads = true, only = null } = {}) {
  const m = rules.messages;
  const max = textMax(rules);
  const out = [];
  const err = (field, code) => out.push({ field, code, message: m[code] });
  const len = chars;
  if (uploads && !values.audio_upload_id) err("audio", "AUDIO_REQUIRED");
  if (uploads && !coverDefault && !values.cover_upload_id) err("cover", "COVER_REQUIRED");
  const title = (values.title || "").trim();
  if (!title) err("title", "TITLE_REQUIRED");
  else if (len(title) > rules.title_max) err("title", "TITLE_TOO_LONG");
  if (!values.artists.length) err("artists", "ARTISTS_REQUIRED");
  else if (values.artists.length > rules.artists_max) err("artists", "ARTISTS_TOO_MANY");
  else if (values.artists.some((a) => !a || len(a) > max.artist)) err("artists", "ARTIST_INVALID");
  const bpm = String(values.bpm ?? "").trim();
  if (!bpm) err("bpm", "BPM_REQUIRED");
  else if (!/^\d+$/.test(bpm) || Number(bpm) < rules.bpm.min || Number(bpm) > rules.bpm.max) err("bpm", "BPM_INVALID");
  for (const [field, allowed, code] of [["key", rules.keys, "KEY"], ["scale", rules.scales, "SCALE"], ["licensing", rules.licensing, "LICENSING"]]) {
    if (!values[field]) err(field, `${code}_REQUIRED`);
    else if (!allowed.includes(values[field])) err(field, `${code}_INVALID`);
  }
  // The page sends description and mood trimmed: their length is checked as sent.
  if (len(values.description) > max.description) err("description", "DESCRIPTION_TOO_LONG");
  if (values.genres.length > rules.genres_max) err("genres", "GENRES_TOO_MANY");
  else if (values.genres.some((g) => len(g) > max.genre)) err("genres", "GENRE_INVALID");
  if (values.tags.length > rules.tags_max) err("tags", "TAGS_TOO_MANY");
  else if (values.tags.some((t) => !t || len(t) > max.tag)) err("tags", "TAG_INVALID");
  if (len(values.mood) > max.mood) err("mood", "MOOD_INVALID");
  out.push(...directionProblems(values, rules));
  return only ? out.filter((p) => only.has(p.field)) : out;
}

/**
 * One file: a drop zone that is also a labelled file input, then the upload's card (name, real
 * format, progress, the gateway's inspection). The card is built once and updated in place, so a
 * progress update never takes keyboard focus away from its buttons.
 */
export class FileSlot {
  constructor(ctx, { kind, label, hint, accept, optional = false, quota = false, onChange, context }) {
    this.ctx = ctx;
    this.kind = kind;
    this.quota = quota; // this audio alone is what a save reserves upload minutes for
    this.refused = null; // {file, format, problem}: too large to upload, refused before sending a byte
    this.label = label;
    this.onChange = onChange || (() => {});
    this.context = context || (() => ({ mode: "single track" }));
    this.upload = null;
    this.off = null;
    this.previewUrl = null;
    this.shownFormat = undefined;
    const id = uid(kind);
    this.errorId = `${id}-error`;
    this.input = h("input", { type: "file", id, accept, class: "visually-hidden", "aria-describedby": this.errorId,
      onchange: () => this.input.files[0] && this.pick(this.input.files[0]) });
    this.error = h("p", { class: "field-error", id: this.errorId, "aria-live": "polite" });
    this.zone = h("label", { class: optional ? "dropzone slim" : "dropzone", for: id },
      h("span", { class: "dropzone-icon", "aria-hidden": "true" }, kind === "audio" ? "♪" : "▣"),
      h("span", { class: "dropzone-title" }, label, optional ? h("span", { class: "optional" }, " (optional)") : null),
      h("span", { class: "dropzone-hint" }, hint));
    for (const type of ["dragenter", "dragover"]) {
      this.zone.addEventListener(type, (e) => {
        e.preventDefault();
        this.zone.classList.add("dragging");
      });
    }
    this.zone.addEventListener("dragleave", () => this.zone.classList.remove("dragging"));
    this.zone.addEventListener("drop", (e) => {
      e.preventDefault();
      this.zone.classList.remove("dragging");
      const file = e.dataTransfer?.files?.[0];
      if (file) this.pick(file);
    });
    this.buildCard();
    this.el = h("div", { class: `file-slot file-slot-${kind}`, "data-slot": kind }, this.input, this.zone, this.status, this.error);
  }

  buildCard() {
    this.thumb = h("span", { class: "file-thumb", "aria-hidden": "true" });
    this.nameEl = h("strong", {});
    this.metaEl = h("span", { class: "muted file-meta" });
    this.bar = h("progress", { max: 100, value: 0 });
    this.stateEl = h("span", { class: "file-state" });
    this.bytesEl = h("span", { class: "file-bytes" });
    this.progressEl = h("div", { class: "file-progress" }, this.stateEl, this.bytesEl);
    this.minutesEl = h("p", { class: "minutes-note", hidden: true });
    this.resumedEl = h("p", { class: "resumed muted", hidden: true });
    this.problemList = h("ul", { class: "messages error", role: "alert" });
    this.problemsEl = h("div", { class: "file-problems", hidden: true }, this.problemList,
      supportButton(() => this.supportDetails()));
    this.toggle = h("button", { type: "button", class: "link-button", "data-focus": "toggle", onclick: () => {
      const u = this.upload;
      if (!u) return;
      if (["paused", "failed", "offline"].includes(u.state)) u.resume();
      else u.pause();
    } }, "Pause"); // named before its first render (render() names it after the file)
    this.replaceButton = h("button", { type: "button", class: "link-button", "data-focus": "replace", onclick: () => this.input.click() }, "Replace");
    this.removeButton = h("button", { type: "button", class: "link-button danger", "data-focus": "remove", onclick: () => {
      this.clearFile();
      this.input.focus();
    } }, "Remove");
    this.status = h("div", { class: "file-status", hidden: true },
      h("div", { class: "file-head" }, this.thumb, h("div", { class: "file-name" }, this.nameEl, this.metaEl)),
      this.bar, this.progressEl, this.minutesEl, this.resumedEl, this.problemsEl,
      h("div", { class: "file-actions" }, this.toggle, this.replaceButton, this.removeButton));
  }

  get uploadId() {
    return this.upload?.done ? this.upload.uploadId : null;
  }

  get busy() {
    return Boolean(this.upload && !this.upload.done);
  }

  /**
   * Reasons this file blocks Save: refused for its size, still being checked, what the inspection
   * found, or (a `quota` slot) longer than the upload minutes left. `inspection`: shown on the
   * file's card already, so not repeated as the field's error.
   */
  problems() {
    if (this.refused) return [{ ...this.refused.problem, inspection: true }];
    const u = this.upload;
    if (!u?.done) return [];
    const what = this.kind === "audio" ? "audio file" : "cover art";
    if (u.check === "checking") return [{ field: this.kind, code: "CHECKING", message: `The ${what} is being checked.` }];
    const out = u.problems.map((p) => ({ field: this.kind, code: p.code, message: p.message, inspection: true }));
    const over = this.quota ? this.minutesProblem() : null;
    if (over) out.push({ ...over, inspection: true });
    return out;
  }

  /** The audio's length in seconds: the gateway's reading, else the WAV header's; null while unknown. */
  seconds() {
    if (this.kind !== "audio" || !this.upload) return null;
    return this.upload.inspection?.facts?.duration_s ?? this.duration ?? null;
  }

  /** UPLOAD_MINUTES_EXCEEDED with the gateway's sentence when this audio is longer than the minutes left. */
  minutesProblem() {
    const s = this.seconds();
    const m = this.ctx.minutes;
    if (s === null || !m || fitsMinutes(s, m)) return null;
    return { field: "audio", code: "UPLOAD_MINUTES_EXCEEDED", message: quotaMessage(s, remainingSeconds(m)) };
  }

  /**
   * A file over the gateway's size limit for its kind, refused from File.size before uploading,
   * with validation's sentence (media_rules.audio_too_large / cover_too_large); null when it fits.
   * The limit is the smaller of the kind's (audio_max_bytes / cover_max_bytes) and the tus one.
   */
  sizeProblem(file) {
    const r = this.ctx.rules;
    const limits = [this.kind === "audio" ? r.audio_max_bytes : r.cover_max_bytes, r.max_upload_bytes].filter(Number.isFinite);
    if (!limits.length) return null;
    const limit = Math.min(...limits);
    if (file.size <= limit) return null;
    return this.kind === "audio"
      ? { field: "audio", code: "AUDIO_TOO_LARGE", message: `The audio file is ${formatBytes(file.size)}. BeatPass accepts audio files up to ${formatBytes(limit)}.` }
      : { field: "cover", code: "COVER_TOO_LARGE", message: `The cover art file is ${formatBytes(file.size)}. BeatPass accepts cover art files up to ${formatBytes(limit)}.` };
  }

  pick(file) {
    this.release();
    this.setError("");
    this.picked = file;
    const tooLarge = this.sizeProblem(file);
    if (tooLarge) {
      this.refuse(file, null, tooLarge);
      this.onChange("pick", file);
      sniffFile(file).then((format) => {
        if (this.refused?.file !== file) return;
        this.refused.format = format;
        this.renderRefused();
      }).catch(() => null);
      return;
    }
    // Bytes that plainly are another format are refused before a byte is sent, in validation's
    // words (/rules' format_refusals); anything else is uploaded and inspected by the gateway.
    const refusals = this.ctx.rules.format_refusals?.[this.kind] || {};
    plainFormat(file).then((format) => {
      if (this.picked !== file) return; // another file was picked meanwhile
      if (refusals[format]) this.refuse(file, format, { field: this.kind, ...refusals[format] });
      else this.send(file);
    });
    this.onChange("pick", file); // at once: the title follows the file while its bytes are read
  }

  /** A file refused before uploading it: its card with the problem, nothing sent. */
  refuse(file, format, problem) {
    this.refused = { file, format, problem };
    this.zone.classList.add("has-file");
    this.status.hidden = false;
    this.renderRefused();
  }

  send(file) {
    this.upload = FileUpload.for(file, { api: this.ctx.api, producerId: this.ctx.me.producer_id, kind: this.kind });
    this.off = this.upload.on(() => this.render());
    this.duration = null;
    this.shownFormat = undefined;
    if (this.kind === "audio") {
      wavDuration(file).then((d) => {
        this.duration = d;
        this.render();
      }).catch(() => null);
    } else {
      this.previewUrl = URL.createObjectURL(file);
    }
    this.zone.classList.add("has-file");
    this.status.hidden = false;
    this.render();
    this.upload.start();
  }

  release() {
    this.refused = null;
    this.picked = null;
    if (this.off) this.off();
    this.off = null;
    if (this.upload) this.upload.remove();
    this.upload = null;
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
  }

  clearFile() {
    this.release();
    this.input.value = "";
    this.zone.classList.remove("has-file");
    this.status.hidden = true;
    this.onChange("pick", null);
  }

  /** After a save: the upload belongs to a track now. */
  consumed() {
    if (this.upload && this.kind === "audio") this.upload.forget();
    if (this.off) this.off();
    this.off = null;
    this.upload = null;
    this.clearFile();
  }

  setError(message) {
    this.error.textContent = message || "";
    this.el?.classList.toggle("invalid", Boolean(message) || Boolean(this.upload?.problems.length));
  }

  /** What support needs about this file (see support.js). */
  supportDetails() {
    const u = this.upload;
    if (this.refused) {
      const { file, format, problem } = this.refused;
      return { ...this.context(), errors: [problem],
        files: [{ role: this.kind === "audio" ? "Audio file" : "Cover file", name: file.name, format }] };
    }
    return {
      ...this.context(),
      errors: u?.problems || [],
      files: [{ role: this.kind === "audio" ? "Audio file" : "Cover file", name: u?.file.name, format: u?.format }],
      uploadIds: { [this.kind]: u?.uploadId },
      requestId: u?.requestId,
    };
  }

  /**
   * This audio's length against the upload minutes left, in the m:ss of the gateway's refusal
   * (the same sentence when it is too long): [text, over], or ["", false].
   */
  minutesNote() {
    const s = this.seconds();
    const m = this.ctx.minutes;
    if (s === null || !m) return ["", false];
    const left = remainingSeconds(m);
    return fitsMinutes(s, m)
      ? [`This track is ${clockUp(s)} long; you have ${clockUp(left)} of upload minutes left.`, false]
      : [quotaMessage(s, left), true];
  }

  /** The card of a file refused for its size: nothing was uploaded; the sentence and its code. */
  renderRefused() {
    const { file, format, problem } = this.refused;
    this.shownFormat = undefined;
    this.thumb.className = "file-thumb badge-format";
    this.thumb.textContent = formatLabel(format);
    this.nameEl.textContent = file.name;
    this.nameEl.title = file.name;
    this.metaEl.textContent = [formatLabel(format), formatBytes(file.size)].join(" · ");
    this.bar.hidden = true;
    this.progressEl.className = "file-progress state-refused";
    this.progressEl.dataset.state = "refused";
    this.progressEl.dataset.check = "problems";
    this.stateEl.textContent = "Not accepted";
    this.bytesEl.textContent = "Not uploaded";
    this.minutesEl.hidden = true;
    this.resumedEl.hidden = true;
    this.problemList.dataset.codes = `${problem.code}:${problem.message}`;
    this.problemList.replaceChildren(h("li", {}, h("span", { class: "problem-message" }, problem.message), " ",
      h("code", { class: "problem-code" }, problem.code)));
    this.problemsEl.hidden = false;
    this.el?.classList.add("invalid");
    hideKeepingFocus(this.toggle, this.replaceButton);
    this.replaceButton.setAttribute("aria-label", `Replace ${file.name}`);
    this.removeButton.setAttribute("aria-label", `Remove ${file.name}`);
    this.onChange("progress");
  }

  renderThumb(u) {
    if (this.shownFormat === u.format) return;
    this.shownFormat = u.format;
    if (this.previewUrl && PREVIEWABLE.has(u.format)) {
      this.thumb.className = "file-thumb";
      this.thumb.replaceChildren(h("img", { src: this.previewUrl, alt: "" }));
    } else {
      this.thumb.className = "file-thumb badge-format";
      this.thumb.textContent = formatLabel(u.format);
    }
    this.thumb.dataset.format = u.format || "";
  }

  render() {
    const u = this.upload;
    if (!u) return;
    const checkLabels = { checking: "Checking the file…", problems: "Not accepted" };
    const labels = {
      starting: "Preparing…", uploading: "Uploading", retrying: "Connection dropped, retrying…", paused: "Paused",
      offline: "Offline: resumes when you are back online",
      done: checkLabels[u.check] || (u.alreadyUploaded ? "Already uploaded" : "Uploaded"),
      failed: u.error || "Upload stopped",
    };
    const detail = [`${formatBytes(u.sent)} of ${formatBytes(u.total)}`, `${u.percent} %`];
    if (u.state === "uploading" && u.speed > 0) detail.push(`${formatBytes(u.speed)}/s`);
    const facts = u.inspection?.facts || {};
    const meta = [formatLabel(u.format), formatBytes(u.total)];
    if (facts.width && facts.height) meta.push(`${facts.width}×${facts.height} px`);
    const seconds = facts.duration_s ?? this.duration;
    if (seconds) meta.push(clock(seconds));
    this.renderThumb(u);
    this.nameEl.textContent = u.file.name;
    this.nameEl.title = u.file.name;
    this.metaEl.textContent = meta.join(" · ");
    this.bar.hidden = false;
    this.bar.value = u.percent;
    this.bar.setAttribute("aria-label", `${u.file.name} upload progress`);
    this.progressEl.className = `file-progress state-${u.state}${u.done ? ` check-${u.check}` : ""}`;
    this.progressEl.dataset.state = u.state;
    this.progressEl.dataset.check = u.check;
    this.stateEl.textContent = labels[u.state] || u.state;
    this.bytesEl.textContent = detail.join(" · ");
    const [note, over] = this.minutesNote();
    this.minutesEl.textContent = note;
    this.minutesEl.className = `minutes-note ${over ? "over" : "muted"}`;
    this.minutesEl.hidden = !note;
    const resumed = u.alreadyUploaded
      ? "Already uploaded: the server has all of this file, so nothing was sent again."
      : u.resumedFrom ? `Resumed at ${formatBytes(u.resumedFrom)}: the server kept the bytes already sent.` : "";
    this.resumedEl.textContent = resumed;
    this.resumedEl.hidden = !resumed;
    const problems = u.problems;
    const shown = this.problemList.dataset.codes || "";
    const codes = problems.map((p) => `${p.code}:${p.message}`).join("\n");
    if (codes !== shown) {
      this.problemList.dataset.codes = codes;
      this.problemList.replaceChildren(...problems.map((p) => h("li", {},
        h("span", { class: "problem-message" }, p.message), " ", h("code", { class: "problem-code" }, p.code))));
    }
    if (problems.length) this.problemsEl.hidden = false;
    else hideKeepingFocus(this.problemsEl, this.replaceButton);
    this.el?.classList.toggle("invalid", Boolean(this.error.textContent) || problems.length > 0);
    const canToggle = ["uploading", "retrying", "starting", "paused", "failed", "offline"].includes(u.state);
    const resume = ["paused", "failed", "offline"].includes(u.state);
    this.toggle.textContent = resume ? "Resume" : "Pause";
    this.toggle.setAttribute("aria-label", `${resume ? "Resume" : "Pause"} upload of ${u.file.name}`);
    if (canToggle) this.toggle.hidden = false;
    else hideKeepingFocus(this.toggle, this.replaceButton);
    this.replaceButton.setAttribute("aria-label", `Replace ${u.file.name}`);
    this.removeButton.setAttribute("aria-label", `Remove ${u.file.name}`);
    this.onChange("progress");
  }
}

function field(label, control, { errorId, hint, optional, extra }) {
  return h("div", { class: "field", "data-field": control.dataset.field },
    h("div", { class: "field-label" },
      h("label", { for: control.id }, label, optional ? h("span", { class: "optional" }, " (optional)") : null), extra || null),
    control,
    hint ? h("p", { class: "hint", id: `${errorId}-hint` }, hint) : null,
    h("p", { class: "field-error", id: errorId, "aria-live": "polite" }));
}

/**
 * Audio + cover + metadata of one track. Options: `fieldsOnly` (no file slots: editing a saved
 * track), `applyAll(name)` (a collection item's "Apply to all" buttons), `context()` (single track
 * or collection, for support details).
 */
export class TrackEditor {
  constructor(ctx, { coverOptional = false, uploadsOptional = false, fieldsOnly = false, initial = {}, onChange, editOf = null,
    audioLabel = "Audio (WAV)", coverLabel = "Cover art", audioHint, coverHint, applyAll, context, quota = false } = {}) {
    this.ctx = ctx;
    this.coverOptional = coverOptional;
    this.uploadsOptional = uploadsOptional || fieldsOnly;
    this.fieldsOnly = fieldsOnly;
    this.editOf = editOf; // the saved metadata an edit changes: only the changed fields are judged
    this.onChange = onChange || (() => {});
    this.touched = new Set();
    this.serverErrors = {};
    this.controls = {};
    this.errorEls = {};
    this.autoTitle = null;
    const rules = ctx.rules;
    const changed = (name) => () => {
      this.touched.add(name);
      delete this.serverErrors[name];
      this.refresh();
    };
    if (!fieldsOnly) {
      this.audio = new FileSlot(ctx, { kind: "audio", label: audioLabel, hint: audioHint || "Drop a WAV file here, or choose one",
        accept: ".wav,audio/wav,audio/x-wav,audio/wave", optional: uploadsOptional, quota, context,
        onChange: (why, file) => {
          if (why === "pick") {
            delete this.serverErrors.audio;
            if (file) this.titleFrom(file);
          }
          this.refresh();
        } });
      this.cover = new FileSlot(ctx, { kind: "cover", label: coverLabel,
        hint: coverHint || (coverOptional ? "Uses the album cover unless you add one" : "Square JPEG or PNG, 1000–6000 px"),
        accept: "image/jpeg,image/png,.jpg,.jpeg,.png", optional: coverOptional || uploadsOptional, context,
        onChange: (why) => { if (why === "pick") delete this.serverErrors.cover; this.refresh(); } });
    }
    this.slots = fieldsOnly ? [] : [[this.audio, "audio"], [this.cover, "cover"]];

    const make = (name, control) => {
      const id = uid(name);
      control.id = id;
      control.dataset.field = name;
      control.name = name;
      const errorId = `${id}-error`;
      control.setAttribute("aria-describedby", errorId);
      control.addEventListener("input", changed(name));
      control.addEventListener("change", changed(name));
      control.addEventListener("blur", () => { this.touched.add(name); this.refresh(); });
      this.controls[name] = control;
      return errorId;
    };
    const fields = [];
    const add = (name, label, control, opts = {}) => {
      const errorId = make(name, control);
      const extra = applyAll && APPLY_ALL_FIELDS.includes(name)
        ? h("button", { type: "button", class: "link-button apply-all", onclick: () => applyAll(name) },
          "Apply to all", h("span", { class: "visually-hidden" }, ` tracks (${label})`))
        : null;
      const wrapper = field(label, control, { errorId, extra, ...opts });
      this.errorEls[name] = wrapper.querySelector(".field-error");
      if (opts.hint) control.setAttribute("aria-describedby", `${errorId} ${errorId}-hint`);
      fields.push(wrapper);
      return wrapper;
    };
    const select = (values, labels, placeholder) => h("select", { required: true },
      h("option", { value: "" }, placeholder), values.map((v) => h("option", { value: v }, labels?.[v] || v)));

    add("title", FIELD_LABELS.title, h("input", { type: "text", autocomplete: "off", required: true })).classList.add("span-2");
    add("bpm", FIELD_LABELS.bpm, h("input", { type: "text", inputmode: "numeric", autocomplete: "off", required: true, placeholder: `${rules.bpm.min}–${rules.bpm.max}` }));
    add("artists", FIELD_LABELS.artists, h("input", { type: "text", autocomplete: "off", required: true }),
      { hint: `Separate names with commas (up to ${rules.artists_max}).` }).classList.add("span-2");
    add("licensing", FIELD_LABELS.licensing, select(rules.licensing, LICENSING_LABELS, "Choose licensing"));
    add("key", FIELD_LABELS.key, select(rules.keys, null, "Choose a key"));
    add("scale", FIELD_LABELS.scale, select(rules.scales, SCALE_LABELS, "Choose a scale"));
    add("mood", FIELD_LABELS.mood, h("input", { type: "text", autocomplete: "off" }), { optional: true });
    add("genres", FIELD_LABELS.genres, h("input", { type: "text", autocomplete: "off" }), { optional: true, hint: `Up to ${rules.genres_max}, separated by commas.` });
    add("tags", FIELD_LABELS.tags, h("input", { type: "text", autocomplete: "off" }), { optional: true, hint: `Up to ${rules.tags_max}, separated by commas.` }).classList.add("span-2");
    add("description", FIELD_LABELS.description, h("textarea", { rows: 3 }), { optional: true }).classList.add("span-all");
    this.setValues(initial);

    this.el = h("div", { class: fieldsOnly ? "track-editor fields-only" : "track-editor" },
      fieldsOnly ? null : h("div", { class: "files" }, this.audio.el, this.cover.el),
      h("div", { class: "fields" }, fields));
  }

  /** A picked audio file names the track while the title is empty or still the last file's name. */
  titleFrom(file) {
    const title = this.controls.title;
    if (title.value.trim() && title.value !== this.autoTitle) return;
    this.autoTitle = titleFromFile(file.name);
    title.value = this.autoTitle;
    delete this.serverErrors.title;
  }

  setValues(values) {
    for (const [name, control] of Object.entries(this.controls)) {
      const value = values[name];
      if (value === undefined || value === null) continue;
      control.value = Array.isArray(value) ? value.join(", ") : String(value);
    }
  }

  /** The controls' text as typed, for a draft: {fields, autoTitle}, or null when nothing is typed. */
  draft() {
    const fields = Object.fromEntries(Object.entries(this.controls).map(([name, c]) => [name, c.value]));
    return Object.values(fields).some((v) => v.trim()) ? { fields, autoTitle: this.autoTitle } : null;
  }

  restoreDraft(draft) {
    this.setValues(draft?.fields || {});
    this.autoTitle = draft?.autoTitle || null;
  }

  values() {
    const c = this.controls;
    const body = {
      title: c.title.value.trim(),
      artists: splitList(c.artists.value),
      bpm: c.bpm.value.trim(),
      key: c.key.value,
      scale: c.scale.value,
      licensing: c.licensing.value,
      genres: splitList(c.genres.value),
      tags: splitList(c.tags.value),
      mood: c.mood.value.trim(),
      description: c.description.value.trim(),
    };
    if (this.audio?.uploadId) body.audio_upload_id = this.audio.uploadId;
    if (this.cover?.uploadId) body.cover_upload_id = this.cover.uploadId;
    return body;
  }

  /** The JSON the API takes (bpm as a number when it is one, blanks left out). */
  payload() {
    const v = this.values();
    const body = { ...v, bpm: /^\d+$/.test(v.bpm) ? Number(v.bpm) : v.bpm };
    for (const key of ["mood", "description"]) if (!body[key]) delete body[key];
    return body;
  }

  /**
   * The metadata fields that differ from `saved` (a track view's metadata), as a PATCH body. A
   * cleared optional text is sent as null (the edit removes it).
   */
  changes(saved) {
    const now = this.payload();
    const out = {};
    for (const name of METADATA_FIELDS) {
      const before = saved?.[name];
      const after = now[name];
      const same = LIST_FIELDS.has(name)
        ? JSON.stringify(before || []) === JSON.stringify(after || [])
        : String(before ?? "") === String(after ?? "");
      if (!same) out[name] = after === undefined ? null : after;
    }
    return out;
  }

  /** Every reason the track cannot be saved yet: [{field, code, message}]. */
  problems() {
    const values = this.values();
    const only = this.editOf ? new Set(Object.keys(this.changes(this.editOf))) : null;
    const out = checkFields(values, this.ctx.rules, { coverDefault: this.coverOptional, uploads: !this.uploadsOptional, only });
    // What the server refused stays a reason until that field changes.
    for (const [name, message] of Object.entries(this.serverErrors)) {
      if (!out.some((p) => p.field === name)) out.push({ field: name, code: "SERVER", message });
    }
    for (const [slot, name] of this.slots) {
      const idx = out.findIndex((p) => p.field === name);
      if (slot.busy) {
        const message = `The ${name === "audio" ? "audio" : "cover art"} is still uploading (${slot.upload.percent} %).`;
        if (idx >= 0) out[idx] = { field: name, code: "UPLOADING", message };
        else out.push({ field: name, code: "UPLOADING", message });
        continue;
      }
      const found = slot.problems();
      if (found.length) {
        if (idx >= 0) out.splice(idx, 1);
        out.push(...found);
      }
    }
    return out;
  }

  /** Errors from the API for this track (field names without any "tracks[i]." prefix). */
  showServerErrors(errors) {
    this.serverErrors = {};
    for (const e of errors) if (e.field && !this.serverErrors[e.field]) this.serverErrors[e.field] = e.message;
    for (const name of Object.keys(this.serverErrors)) this.touched.add(name);
    this.refresh();
  }

  touchAll() {
    for (const name of [...Object.keys(this.controls), "audio", "cover"]) this.touched.add(name);
    this.refresh();
  }

  focus(name) {
    const target = name === "audio" ? this.audio?.input : name === "cover" ? this.cover?.input : this.controls[name];
    target?.focus();
    (target?.closest(".file-slot") || target)?.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  refresh() {
    const client = {};
    for (const p of this.problems()) {
      if (!client[p.field] && !PAGE_CODES.has(p.code) && !p.inspection) client[p.field] = p.message;
    }
    const message = (name) => this.serverErrors[name] || (this.touched.has(name) ? client[name] : "") || "";
    for (const [name, el] of Object.entries(this.errorEls)) {
      const text = message(name);
      el.textContent = text;
      this.controls[name].setAttribute("aria-invalid", text ? "true" : "false");
      el.closest(".field").classList.toggle("invalid", Boolean(text));
    }
    for (const [slot, name] of this.slots) slot.setError(message(name));
    this.onChange();
  }

  reset() {
    for (const [slot] of this.slots) slot.clearFile();
    for (const control of Object.values(this.controls)) control.value = "";
    this.autoTitle = null;
    this.touched.clear();
    this.serverErrors = {};
    this.refresh();
  }

  destroy() {
    for (const [slot] of this.slots) slot.release();
  }
}


