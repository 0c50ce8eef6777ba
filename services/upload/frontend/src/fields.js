// The track form: file slots (drag-and-drop or pick, with tus progress) and the metadata fields,
// checked with the API's own rules and sentences (GET /api/v1/rules).
import { h, clear, uid, formatBytes, clock, splitList, minutes } from "./dom.js";
import { FileUpload, wavDuration } from "./uploads.js";

const LICENSING_LABELS = { non_exclusive: "Non-exclusive", exclusive: "Exclusive", free_download: "Free download" };
const SCALE_LABELS = { major: "Major", minor: "Minor" };

/** The API's field checks, worded with the API's sentences. */
export function checkFields(values, rules, { coverDefault = false, uploads = true } = {}) {
  const m = rules.messages;
  const out = [];
  const err = (field, code) => out.push({ field, code, message: m[code] });
  if (uploads && !values.audio_upload_id) err("audio", "AUDIO_REQUIRED");
  if (uploads && !coverDefault && !values.cover_upload_id) err("cover", "COVER_REQUIRED");
  const title = (values.title || "").trim();
  if (!title) err("title", "TITLE_REQUIRED");
  else if (title.length > rules.title_max) err("title", "TITLE_TOO_LONG");
  if (!values.artists.length) err("artists", "ARTISTS_REQUIRED");
  else if (values.artists.length > rules.artists_max) err("artists", "ARTISTS_TOO_MANY");
  const bpm = String(values.bpm ?? "").trim();
  if (!bpm) err("bpm", "BPM_REQUIRED");
  else if (!/^\d+$/.test(bpm) || Number(bpm) < rules.bpm.min || Number(bpm) > rules.bpm.max) err("bpm", "BPM_INVALID");
  for (const [field, allowed, code] of [["key", rules.keys, "KEY"], ["scale", rules.scales, "SCALE"], ["licensing", rules.licensing, "LICENSING"]]) {
    if (!values[field]) err(field, `${code}_REQUIRED`);
    else if (!allowed.includes(values[field])) err(field, `${code}_INVALID`);
  }
  if (values.genres.length > rules.genres_max) err("genres", "GENRES_TOO_MANY");
  if (values.tags.length > rules.tags_max) err("tags", "TAGS_TOO_MANY");
  return out;
}

/** One file: a drop zone that is also a labelled file input, then the upload's progress. */
export class FileSlot {
  constructor(ctx, { kind, label, hint, accept, optional = false, onChange }) {
    this.ctx = ctx;
    this.kind = kind;
    this.onChange = onChange || (() => {});
    this.upload = null;
    this.off = null;
    this.previewUrl = null;
    const id = uid(kind);
    this.errorId = `${id}-error`;
    this.input = h("input", { type: "file", id, accept, class: "visually-hidden", "aria-describedby": this.errorId,
      onchange: () => this.input.files[0] && this.pick(this.input.files[0]) });
    this.status = h("div", { class: "file-status", hidden: true });
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
    this.el = h("div", { class: `file-slot file-slot-${kind}`, "data-slot": kind }, this.input, this.zone, this.status, this.error);
  }

  get uploadId() {
    return this.upload?.done ? this.upload.uploadId : null;
  }

  get busy() {
    return Boolean(this.upload && !this.upload.done);
  }

  pick(file) {
    this.release();
    this.setError("");
    this.upload = FileUpload.for(file, { token: this.ctx.api.token, producerId: this.ctx.me.producer_id, kind: this.kind });
    this.off = this.upload.on(() => this.render());
    this.duration = null;
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
    this.onChange("pick");
  }

  release() {
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
    clear(this.status);
    this.onChange("pick");
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
    this.el.classList.toggle("invalid", Boolean(message));
  }

  /** How much of the producer's upload minutes this audio will use. */
  minutesNote() {
    const left = this.ctx.minutes?.remaining;
    if (this.kind !== "audio" || !this.duration || left === undefined) return null;
    const needed = this.duration / 60;
    return needed > left
      ? h("p", { class: "minutes-note over" }, `Longer than your ${minutes(left)} remaining upload minutes.`)
      : h("p", { class: "minutes-note muted" }, `Uses ${minutes(needed)} of your ${minutes(left)} remaining upload minutes.`);
  }

  render() {
    const u = this.upload;
    if (!u) return;
    const labels = {
      starting: "Preparing…", uploading: "Uploading", retrying: "Connection dropped, retrying…", paused: "Paused",
      offline: "Offline: resumes when you are back online", done: "Uploaded", failed: u.error || "Upload stopped",
    };
    const detail = [`${formatBytes(u.sent)} of ${formatBytes(u.total)}`, `${u.percent} %`];
    if (u.state === "uploading" && u.speed > 0) detail.push(`${formatBytes(u.speed)}/s`);
    const meta = [formatBytes(u.total)];
    if (this.duration) meta.push(clock(this.duration));
    const actions = [];
    if (["uploading", "retrying", "starting"].includes(u.state)) {
      actions.push(h("button", { type: "button", class: "link-button", onclick: () => u.pause() }, "Pause"));
    }
    if (["paused", "failed", "offline"].includes(u.state)) {
      actions.push(h("button", { type: "button", class: "link-button", onclick: () => u.resume() }, "Resume"));
    }
    actions.push(h("button", { type: "button", class: "link-button", onclick: () => this.input.click() }, "Replace"));
    actions.push(h("button", { type: "button", class: "link-button danger", onclick: () => this.clearFile() }, "Remove"));
    clear(this.status,
      h("div", { class: "file-head" },
        this.previewUrl ? h("img", { class: "file-thumb", src: this.previewUrl, alt: "" }) : h("span", { class: "file-thumb audio", "aria-hidden": "true" }, "WAV"),
        h("div", { class: "file-name" }, h("strong", { title: u.file.name }, u.file.name), h("span", { class: "muted" }, meta.join(" · ")))),
      h("progress", { max: 100, value: u.percent, "aria-label": `${u.file.name} upload progress` }),
      h("div", { class: `file-progress state-${u.state}`, "data-state": u.state },
        h("span", { class: "file-state" }, labels[u.state] || u.state),
        h("span", { class: "file-bytes" }, detail.join(" · "))),
      this.minutesNote(),
      u.resumedFrom ? h("p", { class: "resumed muted" }, `Resumed at ${formatBytes(u.resumedFrom)}: the server kept the bytes already sent.`) : null,
      h("div", { class: "file-actions" }, actions));
    this.onChange("progress");
  }
}

function field(label, control, { errorId, hint, optional }) {
  return h("div", { class: "field", "data-field": control.dataset.field },
    h("label", { for: control.id }, label, optional ? h("span", { class: "optional" }, " (optional)") : null),
    control,
    hint ? h("p", { class: "hint", id: `${errorId}-hint` }, hint) : null,
    h("p", { class: "field-error", id: errorId, "aria-live": "polite" }));
}

/** Audio + cover + metadata of one track. */
export class TrackEditor {
  constructor(ctx, { coverOptional = false, uploadsOptional = false, initial = {}, onChange, audioLabel = "Audio (WAV)", coverLabel = "Cover art", audioHint, coverHint } = {}) {
    this.ctx = ctx;
    this.coverOptional = coverOptional;
    this.uploadsOptional = uploadsOptional;
    this.onChange = onChange || (() => {});
    this.touched = new Set();
    this.serverErrors = {};
    this.controls = {};
    this.errorEls = {};
    const rules = ctx.rules;
    const changed = (name) => () => {
      this.touched.add(name);
      delete this.serverErrors[name];
      this.refresh();
    };
    this.audio = new FileSlot(ctx, { kind: "audio", label: audioLabel, hint: audioHint || "Drop a WAV file here, or choose one",
      accept: ".wav,audio/wav,audio/x-wav,audio/wave", optional: uploadsOptional,
      onChange: (why) => { if (why === "pick") delete this.serverErrors.audio; this.refresh(); } });
    this.cover = new FileSlot(ctx, { kind: "cover", label: coverLabel,
      hint: coverHint || (coverOptional ? "Uses the album cover unless you add one" : "Square JPEG or PNG, 1000–6000 px"),
      accept: "image/jpeg,image/png,.jpg,.jpeg,.png", optional: coverOptional || uploadsOptional,
      onChange: (why) => { if (why === "pick") delete this.serverErrors.cover; this.refresh(); } });

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
      const wrapper = field(label, control, { errorId, ...opts });
      this.errorEls[name] = wrapper.querySelector(".field-error");
      if (opts.hint) control.setAttribute("aria-describedby", `${errorId} ${errorId}-hint`);
      fields.push(wrapper);
      return wrapper;
    };
    const select = (values, labels, placeholder) => h("select", { required: true },
      h("option", { value: "" }, placeholder), values.map((v) => h("option", { value: v }, labels?.[v] || v)));

    add("title", "Title", h("input", { type: "text", autocomplete: "off", maxlength: rules.title_max + 20, required: true })).classList.add("span-2");
    add("bpm", "BPM", h("input", { type: "text", inputmode: "numeric", autocomplete: "off", required: true, placeholder: `${rules.bpm.min}–${rules.bpm.max}` }));
    add("artists", "Artists", h("input", { type: "text", autocomplete: "off", required: true }),
      { hint: `Separate names with commas (up to ${rules.artists_max}).` }).classList.add("span-2");
    add("licensing", "Licensing", select(rules.licensing, LICENSING_LABELS, "Choose licensing"));
    add("key", "Key", select(rules.keys, null, "Choose a key"));
    add("scale", "Scale", select(rules.scales, SCALE_LABELS, "Choose a scale"));
    add("mood", "Mood", h("input", { type: "text", autocomplete: "off" }), { optional: true });
    add("genres", "Genres", h("input", { type: "text", autocomplete: "off" }), { optional: true, hint: `Up to ${rules.genres_max}, separated by commas.` });
    add("tags", "Tags", h("input", { type: "text", autocomplete: "off" }), { optional: true, hint: `Up to ${rules.tags_max}, separated by commas.` }).classList.add("span-2");
    add("description", "Description", h("textarea", { rows: 3 }), { optional: true }).classList.add("span-all");
    this.setValues(initial);

    this.el = h("div", { class: "track-editor" },
      h("div", { class: "files" }, this.audio.el, this.cover.el),
      h("div", { class: "fields" }, fields));
  }

  setValues(values) {
    for (const [name, control] of Object.entries(this.controls)) {
      const value = values[name];
      if (value === undefined || value === null) continue;
      control.value = Array.isArray(value) ? value.join(", ") : String(value);
    }
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
    if (this.audio.uploadId) body.audio_upload_id = this.audio.uploadId;
    if (this.cover.uploadId) body.cover_upload_id = this.cover.uploadId;
    return body;
  }

  /** The JSON the API takes (bpm as a number when it is one, blanks left out). */
  payload() {
    const v = this.values();
    const body = { ...v, bpm: /^\d+$/.test(v.bpm) ? Number(v.bpm) : v.bpm };
    for (const key of ["mood", "description"]) if (!body[key]) delete body[key];
    return body;
  }

  /** Every reason the track cannot be saved yet: [{field, message}]. */
  problems() {
    const values = this.values();
    const out = checkFields(values, this.ctx.rules, { coverDefault: this.coverOptional, uploads: !this.uploadsOptional });
    // What the server refused stays a reason until that field changes.
    for (const [name, message] of Object.entries(this.serverErrors)) {
      if (!out.some((p) => p.field === name)) out.push({ field: name, code: "SERVER", message });
    }
    for (const [slot, name] of [[this.audio, "audio"], [this.cover, "cover"]]) {
      if (slot.busy) {
        const u = slot.upload;
        const idx = out.findIndex((p) => p.field === name);
        const message = `The ${name === "audio" ? "audio" : "cover art"} is still uploading (${u.percent} %).`;
        if (idx >= 0) out[idx] = { field: name, code: "UPLOADING", message };
        else out.push({ field: name, code: "UPLOADING", message });
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
    const target = name === "audio" ? this.audio.input : name === "cover" ? this.cover.input : this.controls[name];
    target?.focus();
    (target?.closest(".file-slot") || target)?.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  refresh() {
    const client = {};
    for (const p of this.problems()) if (!client[p.field] && !["UPLOADING", "SERVER"].includes(p.code)) client[p.field] = p.message;
    const message = (name) => this.serverErrors[name] || (this.touched.has(name) ? client[name] : "") || "";
    for (const [name, el] of Object.entries(this.errorEls)) {
      const text = message(name);
      el.textContent = text;
      this.controls[name].setAttribute("aria-invalid", text ? "true" : "false");
      el.closest(".field").classList.toggle("invalid", Boolean(text));
    }
    this.audio.setError(message("audio"));
    this.cover.setError(message("cover"));
    this.onChange();
  }

  reset() {
    this.audio.clearFile();
    this.cover.clearFile();
    for (const control of Object.values(this.controls)) control.value = "";
    this.touched.clear();
    this.serverErrors = {};
    this.refresh();
  }

  destroy() {
    this.audio.release();
    this.cover.release();
  }
}
