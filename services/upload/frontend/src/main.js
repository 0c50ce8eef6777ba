// The producer upload page: sign-in, access check, single-track and collection forms, live status.
import "./upload.css";
import { Api, ApiError, errorsOf, idempotencyKey } from "./api.js";
import { h, clear, uid, clock, minutesFigures, formatBytes, keepFocus, quotaMessage, remainingSeconds, fitsMinutes, PAGE } from "./dom.js";
import { unfinishedUploads, discardUpload } from "./uploads.js";
import { FileSlot, TrackEditor, collectionTitleProblem } from "./fields.js";
import { Library } from "./library.js";
import { Draft } from "./draft.js";
import { supportButton } from "./support.js";

const TOKEN_KEY = "beatpass.token";
const root = document.getElementById("app");
const who = document.getElementById("who");
const MESSAGES = PAGE.messages || {};
const LOCK = '<svg viewBox="0 0 24 24" width="28" height="28" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/></svg>';

function icon(markup, cls) {
  const span = h("span", { class: `icon ${cls}`, "aria-hidden": "true" });
  span.innerHTML = markup;
  return span;
}

function takeToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) || PAGE.devToken || "";
}

// The gateway's sentences for a token it refuses (beatpass_common.auth: INVALID, TOKEN_EXPIRED).
const TOKEN_INVALID = "Your access token is not valid. Sign in again.";
const TOKEN_EXPIRED = "Your session has expired. Sign in again.";

/**
 * What can be told of a token without the gateway: the refusal's sentence when it is not three
 * base64url parts with a JSON header and payload (a text `sub`, a numeric `exp`), or when its
 * `exp` has passed; else null. The signature only the gateway can check: a well-formed token
 * with a bad signature still gets its one 401 (a console error) from GET /api/v1/me.
 */
function tokenProblem(token) {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return TOKEN_INVALID;
  const json = (part) => JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=")));
  let payload;
  try {
    json(parts[0]);
    payload = json(parts[1]);
  } catch {
    return TOKEN_INVALID;
  }
  if (!payload || typeof payload !== "object" || typeof payload.sub !== "string" || !Number.isFinite(payload.exp)) return TOKEN_INVALID;
  return payload.exp * 1000 <= Date.now() ? TOKEN_EXPIRED : null;
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

function showSignIn(message) {
  clear(who);
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const form = h("form", { class: "card narrow signin", onsubmit: (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    boot();
  } },
  h("h1", {}, "Sign in to upload"),
  h("p", { class: "muted" }, "Paste the access token from your BeatPass producer account. It is kept only for this browser tab."),
  message ? h("p", { class: "messages error", role: "alert" }, message) : null,
  h("div", { class: "field" }, h("label", { for: "token" }, "Access token"), input),
  h("button", { type: "submit", class: "button" }, "Sign in"));
  clear(root, form);
  input.focus();
}

function showWho(me, devToken) {
  clear(who, h("span", { class: "muted" }, "Signed in as "), h("strong", {}, me.producer_id),
    devToken ? h("span", { class: "chip" }, "dev") : h("button", { type: "button", class: "link-button", onclick: signOut }, "Sign out"));
}

function showNoAccess() {
  clear(root, h("section", { class: "card narrow no-access", "aria-labelledby": "no-access-title" },
    icon(LOCK, "lock"),
    h("h1", { id: "no-access-title" }, "Approved producers only"),
    h("p", { class: "access-message", role: "alert" }, MESSAGES.PRODUCER_ACCESS_REQUIRED),
    h("p", { class: "muted" }, "Apply to become a BeatPass producer from your account page; uploads open once you are approved.")));
}

function showFatal(err) {
  clear(root, h("section", { class: "card narrow" }, h("h1", {}, "The upload page could not load"),
    h("ul", { class: "messages error", role: "alert" }, (err.errors || [{ message: String(err) }]).map((e) => h("li", {}, e.message))),
    h("button", { type: "button", class: "button", onclick: () => boot() }, "Try again")));
}

/** Save button with the visible list of what is still missing. */
class SaveBar {
  constructor({ label, reasons, onSave }) {
    this.reasons = reasons;
    this.onSave = onSave;
    this.saving = false;
    this.key = "";
    this.button = h("button", { type: "submit", class: "button primary", disabled: true }, label);
    const id = uid("reasons");
    this.button.setAttribute("aria-describedby", id);
    this.list = h("div", { class: "reasons", id, "aria-live": "polite" });
    this.errors = h("div", { class: "form-errors", "aria-live": "assertive" });
    this.support = h("div", { class: "refusal-support" });
    this.el = h("div", { class: "savebar" }, this.errors, this.list, this.support, this.button);
  }

  update() {
    const reasons = this.reasons();
    const key = reasons.map((r) => r.message).join("\n");
    this.button.disabled = this.saving || reasons.length > 0;
    if (key === this.key) return;
    this.key = key;
    // Redrawn as uploads progress: a focused reason keeps focus (by its field).
    keepFocus(this.list, () => {
      if (!reasons.length) {
        clear(this.list, h("p", { class: "ready-note" }, "Everything required is here."));
        return;
      }
      clear(this.list, h("p", { class: "reasons-title" }, "Save is available once these are fixed:"),
        h("ul", {}, reasons.map((r) => h("li", {}, h("button", { type: "button", class: "reason", "data-focus": r.field, onclick: r.focus }, r.message)))));
    }, this.button);
  }

  /**
   * A refused save: `general` (errors of no field shown in the form) listed here; below the
   * reasons, a sentence and "Copy details for support" with every error of the refusal (`all`),
   * field ones included.
   */
  showErrors(general, details, all = general) {
    clear(this.errors,
      general.length ? h("ul", { class: "messages error", role: "alert" }, general.map((e) => h("li", {}, e.message))) : null);
    clear(this.support, all.length ? [
      h("p", { class: "support-lead" }, "BeatPass did not save this. If a reason is unclear, send the details to BeatPass support:"),
      supportButton(() => ({ ...details(), errors: all }))] : null);
  }

  async run() {
    if (this.saving) return;
    this.saving = true;
    this.showErrors([]);
    this.button.disabled = true;
    this.button.classList.add("busy");
    const label = this.button.textContent;
    this.button.textContent = "Saving…";
    try {
      await this.onSave();
    } finally {
      this.saving = false;
      this.button.textContent = label;
      this.button.classList.remove("busy");
      this.update();
    }
  }
}

/** Support details of a whole form's save: its files and upload ids. */
function formDetails(editors, mode, collectionTitle, requestId) {
  const files = [];
  const uploadIds = {};
  editors.forEach((editor, i) => {
    const n = editors.length > 1 ? ` ${i + 1}` : "";
    for (const [slot, role] of [[editor.audio, "Audio file"], [editor.cover, "Cover file"]]) {
      if (!slot?.upload) continue;
      files.push({ role: `${role}${n}`, name: slot.upload.file.name, format: slot.upload.format });
      if (slot.uploadId) uploadIds[`${slot.kind}${n}`] = slot.uploadId;
    }
  });
  return { mode, collectionTitle, files, uploadIds, requestId };
}

/** What this page knows of a saved track's files, for its card's support details. */
function savedFiles(editor) {
  const file = (slot) => (slot?.upload ? { name: slot.upload.file.name, format: slot.upload.format } : null);
  return { audio: file(editor.audio), cover: file(editor.cover) };
}

class SingleForm {
  constructor(ctx, onSaved) {
    this.ctx = ctx;
    this.onSaved = onSaved;
    this.key = idempotencyKey();
    this.draft = new Draft(ctx.me.producer_id, "single");
    this.editor = new TrackEditor(ctx, { quota: true, context: () => ({ mode: "single track" }), onChange: () => {
      this.bar?.update();
      this.keepDraft();
    } });
    this.bar = new SaveBar({
      label: "Save track",
      reasons: () => this.editor.problems().map((p) => ({ field: p.field, message: p.message, focus: () => this.editor.focus(p.field) })),
      onSave: () => this.save(),
    });
    this.restored = h("p", { class: "notice draft-note", role: "status", hidden: true });
    this.el = h("form", { class: "upload-form", novalidate: true, "aria-label": "Single track", onsubmit: (e) => { e.preventDefault(); this.bar.run(); } },
      this.restored, this.editor.el, this.bar.el);
    this.restore();
    this.bar.update();
  }

  restore() {
    const draft = this.draft.load();
    if (!draft?.fields) return;
    this.editor.restoreDraft(draft);
    this.editor.refresh();
    this.restored.hidden = false;
    this.restored.textContent = "The details you typed last time are back. Choose the files again: an upload that was cut off continues where it stopped.";
  }

  keepDraft() {
    if (this.saving) return;
    this.draft.save(() => this.editor.draft());
  }

  /** The upload minutes left changed: the audio's note and Save's reasons follow. */
  minutesChanged() {
    if (this.editor.audio.upload) this.editor.audio.render();
    this.bar.update();
  }

  async save() {
    const body = this.editor.payload();
    let result;
    try {
      result = await this.ctx.api.post("/api/v1/tracks", body, { "Idempotency-Key": this.key });
    } catch (err) {
      // A refused save keeps everything as typed and picked, with the reasons beside the fields.
      const errors = errorsOf(err);
      if (errors.some((e) => e.code === "UPLOAD_MINUTES_EXCEEDED")) this.ctx.refreshMinutes(); // used on another device
      this.editor.showServerErrors(errors);
      const known = new Set(["audio", "cover", ...Object.keys(this.editor.controls)]);
      this.bar.showErrors(errors.filter((e) => !known.has(e.field)), () => formDetails([this.editor], "single track", null, err.requestId),
        errors);
      return;
    }
    this.key = idempotencyKey();
    const files = savedFiles(this.editor);
    this.saving = true;
    this.editor.audio.consumed();
    this.editor.reset();
    this.saving = false;
    this.draft.clear();
    this.restored.hidden = true;
    this.onSaved({ kind: "track", id: result.track_id, title: body.title, files,
      uploadIds: { audio: body.audio_upload_id, cover: body.cover_upload_id } });
  }
}

class CollectionForm {
  constructor(ctx, onSaved) {
    this.ctx = ctx;
    this.onSaved = onSaved;
    this.key = idempotencyKey();
    this.items = [];
    this.serverErrors = {};
    this.touched = new Set();
    this.draft = new Draft(ctx.me.producer_id, "collection");
    const update = () => { this.refresh(); };
    this.title = h("input", { id: "collection-title", type: "text", autocomplete: "off", required: true, "aria-describedby": "collection-title-error",
      oninput: () => { delete this.serverErrors.title; this.touched.add("title"); update(); }, onblur: () => { this.touched.add("title"); update(); } });
    this.titleError = h("p", { class: "field-error", id: "collection-title-error", "aria-live": "polite" });
    this.cover = new FileSlot(ctx, { kind: "cover", label: "Album cover art", hint: "Square JPEG or PNG, 1000–6000 px",
      accept: "image/jpeg,image/png,.jpg,.jpeg,.png", context: () => this.context(),
      onChange: (why) => { if (why === "pick") delete this.serverErrors.cover; update(); } });
    this.list = h("ol", { class: "collection-list", tabindex: "-1", "aria-label": "Tracks of the collection" });
    const many = h("input", { type: "file", id: "collection-add-files", multiple: true, accept: ".wav,audio/wav,audio/x-wav,audio/wave", class: "visually-hidden",
      onchange: () => { this.addFiles([...many.files]); many.value = ""; } });
    this.addFilesInput = many;
    const adder = h("label", { class: "dropzone slim", for: many.id },
      h("span", { class: "dropzone-icon", "aria-hidden": "true" }, "+"),
      h("span", { class: "dropzone-title" }, "Add tracks"),
      h("span", { class: "dropzone-hint" }, "Drop several WAV files here, or choose them: one track each"));
    adder.addEventListener("dragover", (e) => { e.preventDefault(); adder.classList.add("dragging"); });
    adder.addEventListener("dragleave", () => adder.classList.remove("dragging"));
    adder.addEventListener("drop", (e) => {
      e.preventDefault();
      adder.classList.remove("dragging");
      this.addFiles([...(e.dataTransfer?.files || [])]);
    });
    this.bar = new SaveBar({ label: "Save collection", reasons: () => this.reasons(), onSave: () => this.save() });
    this.restored = h("p", { class: "notice draft-note", role: "status", hidden: true });
    this.el = h("form", { class: "upload-form", novalidate: true, "aria-label": "Collection", onsubmit: (e) => { e.preventDefault(); this.bar.run(); } },
      this.restored,
      h("div", { class: "collection-head" },
        h("div", { class: "field" }, h("label", { for: "collection-title" }, "Collection title"), this.title, this.titleError),
        this.cover.el),
      h("h2", { class: "section-title" }, "Tracks"),
      this.list,
      h("div", { class: "collection-add" }, many, adder,
        h("button", { type: "button", class: "button secondary", onclick: () => this.addItem() }, "Add a track")),
      this.bar.el);
    if (!this.restore()) this.addItem();
  }

  context() {
    return { mode: "collection", collectionTitle: this.title.value.trim() };
  }

  addItem(file, draft) {
    const item = {};
    item.editor = new TrackEditor(this.ctx, { coverOptional: true, coverLabel: "Track cover",
      context: () => this.context(), applyAll: (name) => this.applyAll(item, name), onChange: () => this.refresh() });
    if (draft) item.editor.restoreDraft(draft);
    item.heading = h("h3", {});
    item.up = h("button", { type: "button", class: "link-button", onclick: () => this.move(item, -1) }, "Move up");
    item.down = h("button", { type: "button", class: "link-button", onclick: () => this.move(item, 1) }, "Move down");
    item.remove = h("button", { type: "button", class: "link-button danger", onclick: () => this.removeItem(item) }, "Remove track");
    item.el = h("li", { class: "collection-item" },
      h("div", { class: "item-head" }, item.heading, h("div", { class: "item-buttons" }, item.up, item.down, item.remove)),
      item.editor.el);
    this.items.push(item);
    this.list.append(item.el);
    if (file) item.editor.audio.pick(file); // names the track after the file
    this.renumber();
    this.refresh();
    return item;
  }

  addFiles(files) {
    for (const file of files) {
      const empty = this.items.find((i) => !i.editor.audio.picked && !i.editor.controls.title.value);
      if (empty) empty.editor.audio.pick(file);
      else this.addItem(file);
    }
  }

  /** Copy one item's artists, licensing, key or scale to every other item. */
  applyAll(from, name) {
    const value = from.editor.controls[name].value;
    for (const item of this.items) {
      if (item === from) continue;
      item.editor.setValues({ [name]: value });
      item.editor.touched.add(name);
      delete item.editor.serverErrors[name];
      item.editor.refresh();
    }
    const label = { artists: "Artists", licensing: "Licensing", key: "Key", scale: "Scale" }[name];
    this.ctx.announce(`${label} applied to all ${this.items.length} tracks.`);
  }

  /** Reorder: the moved track's button keeps focus. */
  move(item, by) {
    const i = this.items.indexOf(item);
    const j = i + by;
    if (j < 0 || j >= this.items.length) return;
    const button = document.activeElement;
    [this.items[i], this.items[j]] = [this.items[j], this.items[i]];
    this.list.replaceChildren(...this.items.map((x) => x.el));
    this.renumber();
    this.refresh();
    const keep = button === item.up || button === item.down ? button : null;
    (keep && !keep.disabled ? keep : [item.up, item.down].find((b) => !b.disabled))?.focus();
    this.ctx.announce(`${item.editor.controls.title.value || "Track"} is now track ${j + 1}.`);
  }

  /** Remove a track; focus goes to the next track's Remove button, else the previous one's, else "Add tracks". */
  removeItem(item) {
    const i = this.items.indexOf(item);
    const had = item.el.contains(document.activeElement);
    item.editor.destroy();
    item.el.remove();
    this.items = this.items.filter((x) => x !== item);
    this.renumber();
    this.refresh();
    if (had) ((this.items[i] || this.items[i - 1])?.remove || this.addFilesInput).focus();
    this.ctx.announce(`Track ${i + 1} removed.`);
  }

  renumber() {
    const many = this.items.length > 1;
    this.list.classList.toggle("many", many);
    this.items.forEach((item, i) => {
      const name = `Track ${i + 1}`;
      item.heading.textContent = name;
      item.el.setAttribute("aria-label", name);
      item.up.disabled = i === 0;
      item.down.disabled = i === this.items.length - 1;
      item.up.hidden = item.down.hidden = !many;
      item.up.setAttribute("aria-label", `Move track ${i + 1} up`);
      item.down.setAttribute("aria-label", `Move track ${i + 1} down`);
      item.remove.setAttribute("aria-label", `Remove track ${i + 1}`);
    });
  }

  reasons() {
    const m = this.ctx.rules.messages;
    const out = [];
    const titleProblem = collectionTitleProblem(this.title.value, this.ctx.rules);
    if (titleProblem) out.push({ field: "title", message: titleProblem.message, focus: () => this.title.focus() });
    const coverProblems = this.cover.problems();
    if (this.cover.busy) out.push({ field: "cover", message: `The album cover is still uploading (${this.cover.upload.percent} %).`, focus: () => this.cover.input.focus() });
    else if (coverProblems.length) for (const p of coverProblems) out.push({ field: "cover", message: p.message, focus: () => this.cover.input.focus() });
    else if (!this.cover.uploadId) out.push({ field: "cover", message: m.COLLECTION_COVER_REQUIRED, focus: () => this.cover.input.focus() });
    if (!this.items.length) out.push({ field: "tracks", message: m.COLLECTION_TRACKS_REQUIRED, focus: () => this.list.focus() });
    this.items.forEach((item, i) => {
      for (const p of item.editor.problems()) {
        out.push({ field: `tracks[${i}].${p.field}`, message: `Track ${i + 1}: ${p.message}`, focus: () => item.editor.focus(p.field) });
      }
    });
    // The gateway reserves the sum of the tracks at once and refuses it whole, with this sentence.
    const total = this.items.reduce((sum, item) => sum + (item.editor.audio.seconds() || 0), 0);
    if (total > 0 && !fitsMinutes(total, this.ctx.minutes)) {
      out.push({ field: "tracks", message: quotaMessage(total, remainingSeconds(this.ctx.minutes)), focus: () => this.list.focus() });
    }
    return out;
  }

  /** The upload minutes left changed: the tracks' notes and Save's reasons follow. */
  minutesChanged() {
    for (const item of this.items) if (item.editor.audio.upload) item.editor.audio.render();
    this.refresh();
  }

  refresh() {
    const reasons = this.bar ? this.reasons() : [];
    const client = Object.fromEntries(reasons.filter((r) => r.field === "title").map((r) => [r.field, r.message]));
    const titleMessage = this.serverErrors.title || (this.touched.has("title") ? client.title : "") || "";
    this.titleError.textContent = titleMessage;
    this.title.setAttribute("aria-invalid", titleMessage ? "true" : "false");
    this.title.closest(".field")?.classList.toggle("invalid", Boolean(titleMessage));
    this.cover.setError(this.serverErrors.cover || "");
    this.bar?.update();
    this.keepDraft();
  }

  restore() {
    const draft = this.draft.load();
    if (!draft || !(draft.title?.trim() || (draft.items || []).some((d) => d?.fields))) return false;
    this.title.value = draft.title || "";
    for (const item of draft.items?.length ? draft.items : [null]) this.addItem(null, item);
    this.restored.hidden = false;
    this.restored.textContent = "The details you typed last time are back. Choose the files again: an upload that was cut off continues where it stopped.";
    return true;
  }

  keepDraft() {
    if (!this.draft || this.saving) return;
    this.draft.save(() => {
      const items = this.items.map((item) => item.editor.draft());
      return this.title.value.trim() || items.some(Boolean) ? { title: this.title.value, items } : null;
    });
  }

  async save() {
    const body = {
      title: this.title.value.trim(),
      cover_upload_id: this.cover.uploadId,
      tracks: this.items.map((item) => item.editor.payload()),
    };
    let result;
    try {
      result = await this.ctx.api.post("/api/v1/collections", body, { "Idempotency-Key": this.key });
    } catch (err) {
      const errors = errorsOf(err);
      if (errors.some((e) => e.code === "UPLOAD_MINUTES_EXCEEDED")) this.ctx.refreshMinutes(); // used on another device
      this.serverErrors = {};
      const perItem = new Map();
      const general = [];
      for (const e of errors) {
        const match = /^tracks\[(\d+)\]\.(.+)$/.exec(e.field || "");
        if (match && this.items[Number(match[1])]) {
          const list = perItem.get(Number(match[1])) || [];
          list.push({ ...e, field: match[2] });
          perItem.set(Number(match[1]), list);
        } else if (e.field === "title" || e.field === "cover") {
          this.serverErrors[e.field] = this.serverErrors[e.field] || e.message;
        } else {
          general.push(e);
        }
      }
      this.items.forEach((item, i) => item.editor.showServerErrors(perItem.get(i) || []));
      this.refresh();
      this.bar.showErrors(general, () => formDetails(this.items.map((i) => i.editor), "collection", body.title, err.requestId),
        errors);
      return;
    }
    this.key = idempotencyKey();
    const titles = body.tracks.map((t) => t.title);
    const files = this.items.map((item) => savedFiles(item.editor));
    const uploadIds = body.tracks.map((t) => ({ audio: t.audio_upload_id, cover: t.cover_upload_id || body.cover_upload_id }));
    this.saving = true;
    for (const item of this.items) {
      item.editor.audio.consumed();
      item.editor.destroy();
    }
    this.items = [];
    this.list.replaceChildren();
    this.title.value = "";
    this.touched.clear();
    this.cover.clearFile();
    this.addItem();
    this.saving = false;
    this.draft.clear();
    this.restored.hidden = true;
    this.onSaved({ kind: "collection", id: result.collection_id, title: body.title, trackIds: result.track_ids, titles, files, uploadIds });
  }
}

class App {
  constructor(api, me, rules) {
    this.announcer = h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    this.ctx = { api, me, rules, refreshMinutes: () => this.refreshMinutes(),
      announce: (text) => { this.announcer.textContent = text; },
      onReplaced: (info) => this.library.replaced(info) };
    localStorage.removeItem(`beatpass.recent:${me.producer_id}`); // the old browser-only list: the library replaces it
    this.minutes = h("section", { class: "minutes", "aria-live": "polite", "aria-label": "Upload minutes" });
    this.showMinutes(me.upload_minutes);
    this.library = new Library(this.ctx);
    const onSaved = (saved) => this.saved(saved);
    this.forms = { single: new SingleForm(this.ctx, onSaved), collection: new CollectionForm(this.ctx, onSaved) };
    this.tabs = {};
    this.panels = {};
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Upload mode" });
    for (const [mode, label] of [["single", "Single track"], ["collection", "Collection"]]) {
      const tab = h("button", { type: "button", role: "tab", id: `tab-${mode}`, "aria-controls": `panel-${mode}`, class: "tab",
        onclick: () => this.select(mode),
        onkeydown: (e) => {
          if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
            e.preventDefault();
            const next = mode === "single" ? "collection" : "single";
            this.select(next);
            this.tabs[next].focus();
          }
        } }, label);
      this.tabs[mode] = tab;
      tablist.append(tab);
      this.panels[mode] = h("section", { role: "tabpanel", id: `panel-${mode}`, "aria-labelledby": tab.id, class: "panel-body" }, this.forms[mode].el);
    }
    this.el = h("div", { class: "app" },
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Upload"),
        h("p", { class: "muted" }, "WAV audio with cover art. Uploads resume where they stopped if the connection drops or the page reloads.")),
      this.minutes),
      h("div", { class: "card form-card" }, tablist, this.panels.single, this.panels.collection),
      this.library.el, this.announcer);
    this.select("single");
    this.library.load();
    this.showUnfinished();
  }

  /** After a reload: what the server kept of unfinished uploads, and how to continue them. */
  async showUnfinished() {
    const items = await unfinishedUploads(this.ctx.me.producer_id, this.ctx.api.token);
    if (!items.length) return;
    const list = h("ul", {});
    const notice = h("section", { class: "unfinished", "aria-labelledby": "unfinished-title" },
      h("h2", { id: "unfinished-title" }, "Unfinished uploads"),
      h("p", { class: "muted" }, "The server kept what was already sent. Choose the same file again to continue from there."),
      list);
    const rows = new Map();
    for (const item of items) {
      const row = h("li", { "data-fingerprint": item.fingerprint },
        h("span", { class: "unfinished-name" }, item.name),
        h("span", { class: "muted" }, `${formatBytes(item.offset)} of ${formatBytes(item.length)} (${Math.floor((item.offset / item.length) * 100)} %)`),
        h("button", { type: "button", class: "link-button danger", "aria-label": `Discard ${item.name}`, onclick: async () => {
          await discardUpload(item, this.ctx.api.token);
          drop(item.fingerprint);
        } }, "Discard"));
      rows.set(item.fingerprint, row);
      list.append(row);
    }
    const drop = (fingerprint) => {
      rows.get(fingerprint)?.remove();
      rows.delete(fingerprint);
      if (!rows.size) notice.remove();
    };
    document.addEventListener("beatpass:upload", (e) => drop(e.detail));
    this.el.querySelector(".form-card").before(notice);
  }

  select(mode) {
    for (const [name, tab] of Object.entries(this.tabs)) {
      const on = name === mode;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      this.panels[name].hidden = !on;
    }
  }

  showMinutes(m) {
    if (!m) return;
    this.ctx.minutes = m;
    for (const form of Object.values(this.forms || {})) form.minutesChanged();
    const { limit, used, left } = minutesFigures(m);
    const share = Math.min(100, limit ? (used / limit) * 100 : 0);
    clear(this.minutes,
      h("div", { class: "minutes-text" },
        h("span", { class: "minutes-label" }, "Upload minutes"),
        h("span", { class: "minutes-value", "data-remaining": m.remaining, "data-used": m.used },
          h("strong", {}, clock(left)), ` of ${clock(limit)} left · ${clock(used)} used`)),
      h("div", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": used,
        "aria-valuetext": `${clock(used)} of ${clock(limit)} minutes used`, "aria-label": "Upload minutes used" },
      h("span", { style: `width:${share.toFixed(1)}%` })));
  }

  refreshMinutes() {
    clearTimeout(this.minutesTimer);
    this.minutesTimer = setTimeout(async () => {
      try {
        const me = await this.ctx.api.get("/api/v1/me");
        this.showMinutes(me.upload_minutes);
      } catch {
        // keep the last figures
      }
    }, 250);
  }

  /** A save was accepted: its card on top of the library, with keyboard focus on it. */
  saved(saved) {
    const card = this.library.added(saved);
    card.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
    card.focus();
    this.ctx.announce(`${saved.title} saved. Its status follows in Your uploads.`);
    this.refreshMinutes();
  }
}

async function boot() {
  const token = takeToken();
  if (!token) {
    showSignIn();
    return;
  }
  const problem = tokenProblem(token);
  if (problem) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(problem);
    return;
  }
  const api = new Api(token);
  let me;
  let rules;
  try {
    [me, rules] = await Promise.all([api.get("/api/v1/me"), api.get("/api/v1/rules")]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(err.errors[0]?.message);
      return;
    }
    showFatal(err);
    return;
  }
  showWho(me, token === PAGE.devToken);
  if (!me.approved) {
    showNoAccess();
    return;
  }
  const app = new App(api, me, rules);
  clear(root, app.el);
}

// A new #token= on a page already open (a same-document navigation, no reload) signs that
// producer in afresh: nothing of the previous producer's page (forms, uploads, drafts) carries over.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).get("token")) {
    takeToken();
    location.reload();
  }
});

boot();
