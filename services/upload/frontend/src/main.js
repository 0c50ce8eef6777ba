// The producer upload page: sign-in, access check, single-track and collection forms, live status.
import "./upload.css";
import { Api, ApiError, idempotencyKey } from "./api.js";
import { h, clear, uid, minutes, formatBytes, PAGE } from "./dom.js";
import { unfinishedUploads, discardUpload } from "./uploads.js";
import { FileSlot, TrackEditor } from "./fields.js";
import { TrackCard, CollectionCard } from "./status.js";

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
    this.button = h("button", { type: "submit", class: "button primary", disabled: true, "aria-describedby": "" }, label);
    const id = uid("reasons");
    this.button.setAttribute("aria-describedby", id);
    this.list = h("div", { class: "reasons", id, "aria-live": "polite" });
    this.errors = h("div", { class: "form-errors", "aria-live": "assertive" });
    this.el = h("div", { class: "savebar" }, this.errors, this.list, this.button);
  }

  update() {
    const reasons = this.reasons();
    const key = reasons.map((r) => r.message).join("\n");
    this.button.disabled = this.saving || reasons.length > 0;
    if (key === this.key) return;
    this.key = key;
    if (!reasons.length) {
      clear(this.list, h("p", { class: "ready-note" }, "Everything required is here."));
      return;
    }
    clear(this.list, h("p", { class: "reasons-title" }, "Save is available once these are fixed:"),
      h("ul", {}, reasons.map((r) => h("li", {}, h("button", { type: "button", class: "reason", onclick: r.focus }, r.message)))));
  }

  showErrors(errors) {
    clear(this.errors, errors.length ? h("ul", { class: "messages error", role: "alert" }, errors.map((e) => h("li", {}, e.message))) : null);
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

class SingleForm {
  constructor(ctx, onSaved) {
    this.ctx = ctx;
    this.onSaved = onSaved;
    this.key = idempotencyKey();
    this.editor = new TrackEditor(ctx, { onChange: () => this.bar?.update() });
    this.bar = new SaveBar({
      label: "Save track",
      reasons: () => this.editor.problems().map((p) => ({ message: p.message, focus: () => this.editor.focus(p.field) })),
      onSave: () => this.save(),
    });
    this.el = h("form", { class: "upload-form", novalidate: true, "aria-label": "Single track", onsubmit: (e) => { e.preventDefault(); this.bar.run(); } },
      this.editor.el, this.bar.el);
    this.bar.update();
  }

  async save() {
    const body = this.editor.payload();
    let result;
    try {
      result = await this.ctx.api.post("/api/v1/tracks", body, { "Idempotency-Key": this.key });
    } catch (err) {
      const errors = err instanceof ApiError ? err.errors : [{ message: String(err) }];
      this.editor.showServerErrors(errors);
      const known = new Set(["audio", "cover", ...Object.keys(this.editor.controls)]);
      this.bar.showErrors(errors.filter((e) => !known.has(e.field)));
      return;
    }
    this.key = idempotencyKey();
    this.editor.audio.consumed();
    this.editor.reset();
    this.onSaved({ kind: "track", id: result.track_id, title: body.title });
  }
}

function titleFromFile(name) {
  return name.replace(/\.[^.]+$/, "").replace(/[_]+/g, " ").trim();
}

class CollectionForm {
  constructor(ctx, onSaved) {
    this.ctx = ctx;
    this.onSaved = onSaved;
    this.key = idempotencyKey();
    this.items = [];
    this.serverErrors = {};
    this.touched = new Set();
    const update = () => { this.refresh(); };
    this.title = h("input", { id: "collection-title", type: "text", autocomplete: "off", required: true, "aria-describedby": "collection-title-error",
      oninput: () => { delete this.serverErrors.title; this.touched.add("title"); update(); }, onblur: () => { this.touched.add("title"); update(); } });
    this.titleError = h("p", { class: "field-error", id: "collection-title-error", "aria-live": "polite" });
    this.cover = new FileSlot(ctx, { kind: "cover", label: "Album cover art", hint: "Square JPEG or PNG, 1000–6000 px",
      accept: "image/jpeg,image/png,.jpg,.jpeg,.png", onChange: (why) => { if (why === "pick") delete this.serverErrors.cover; update(); } });
    this.list = h("ol", { class: "collection-list" });
    const many = h("input", { type: "file", id: "collection-add-files", multiple: true, accept: ".wav,audio/wav,audio/x-wav,audio/wave", class: "visually-hidden",
      onchange: () => { this.addFiles([...many.files]); many.value = ""; } });
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
    this.el = h("form", { class: "upload-form", novalidate: true, "aria-label": "Collection", onsubmit: (e) => { e.preventDefault(); this.bar.run(); } },
      h("div", { class: "collection-head" },
        h("div", { class: "field" }, h("label", { for: "collection-title" }, "Collection title"), this.title, this.titleError),
        this.cover.el),
      h("h2", { class: "section-title" }, "Tracks"),
      this.list,
      h("div", { class: "collection-add" }, many, adder,
        h("button", { type: "button", class: "button secondary", onclick: () => this.addItem() }, "Add a track")),
      this.bar.el);
    this.addItem();
  }

  addItem(file) {
    const item = {};
    item.editor = new TrackEditor(this.ctx, { coverOptional: true, coverLabel: "Track cover", onChange: () => this.refresh() });
    item.heading = h("h3", {});
    item.el = h("li", { class: "collection-item" },
      h("div", { class: "item-head" }, item.heading,
        h("button", { type: "button", class: "link-button danger", onclick: () => this.removeItem(item) }, "Remove track")),
      item.editor.el);
    this.items.push(item);
    this.list.append(item.el);
    if (file) {
      item.editor.audio.pick(file);
      item.editor.controls.title.value = titleFromFile(file.name);
    }
    this.renumber();
    this.refresh();
    return item;
  }

  addFiles(files) {
    for (const file of files) {
      const empty = this.items.find((i) => !i.editor.audio.upload && !i.editor.controls.title.value);
      if (empty) {
        empty.editor.audio.pick(file);
        empty.editor.controls.title.value = titleFromFile(file.name);
        empty.editor.refresh();
      } else {
        this.addItem(file);
      }
    }
  }

  removeItem(item) {
    item.editor.destroy();
    item.el.remove();
    this.items = this.items.filter((i) => i !== item);
    this.renumber();
    this.refresh();
  }

  renumber() {
    this.items.forEach((item, i) => {
      item.heading.textContent = `Track ${i + 1}`;
      item.el.setAttribute("aria-label", `Track ${i + 1}`);
    });
  }

  reasons() {
    const m = this.ctx.rules.messages;
    const out = [];
    if (!this.title.value.trim()) out.push({ field: "title", message: m.COLLECTION_TITLE_REQUIRED, focus: () => this.title.focus() });
    else if (this.title.value.trim().length > this.ctx.rules.title_max) out.push({ field: "title", message: m.TITLE_TOO_LONG, focus: () => this.title.focus() });
    if (this.cover.busy) out.push({ field: "cover", message: `The album cover is still uploading (${this.cover.upload.percent} %).`, focus: () => this.cover.input.focus() });
    else if (!this.cover.uploadId) out.push({ field: "cover", message: m.COLLECTION_COVER_REQUIRED, focus: () => this.cover.input.focus() });
    if (!this.items.length) out.push({ field: "tracks", message: m.COLLECTION_TRACKS_REQUIRED, focus: () => this.list.focus() });
    this.items.forEach((item, i) => {
      for (const p of item.editor.problems()) {
        out.push({ field: `tracks[${i}].${p.field}`, message: `Track ${i + 1}: ${p.message}`, focus: () => item.editor.focus(p.field) });
      }
    });
    return out;
  }

  refresh() {
    const reasons = this.bar ? this.reasons() : [];
    const client = Object.fromEntries(reasons.filter((r) => !r.field.startsWith("tracks")).map((r) => [r.field, r.message]));
    const titleMessage = this.serverErrors.title || (this.touched.has("title") ? client.title : "") || "";
    this.titleError.textContent = titleMessage;
    this.title.setAttribute("aria-invalid", titleMessage ? "true" : "false");
    this.title.closest(".field")?.classList.toggle("invalid", Boolean(titleMessage));
    this.cover.setError(this.serverErrors.cover || "");
    this.bar?.update();
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
      const errors = err instanceof ApiError ? err.errors : [{ message: String(err) }];
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
      this.bar.showErrors(general);
      return;
    }
    this.key = idempotencyKey();
    const titles = body.tracks.map((t) => t.title);
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
    this.onSaved({ kind: "collection", id: result.collection_id, title: body.title, trackIds: result.track_ids, titles });
  }
}

class App {
  constructor(api, me, rules) {
    this.announcer = h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    this.ctx = { api, me, rules, refreshMinutes: () => this.refreshMinutes(), forget: (id) => this.forget(id),
      announce: (text) => { this.announcer.textContent = text; } };
    this.recentKey = `beatpass.recent:${me.producer_id}`;
    this.minutes = h("section", { class: "minutes", "aria-live": "polite", "aria-label": "Upload minutes" });
    this.showMinutes(me.upload_minutes);
    this.results = h("div", { class: "results-list" });
    this.resultsSection = h("section", { class: "results", "aria-labelledby": "results-title", hidden: true },
      h("h2", { id: "results-title" }, "Your uploads"), this.results);
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
      this.resultsSection, this.announcer);
    this.select("single");
    this.restoreRecent();
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
    const used = Math.min(100, m.limit ? (m.used / m.limit) * 100 : 0);
    clear(this.minutes,
      h("div", { class: "minutes-text" },
        h("span", { class: "minutes-label" }, "Upload minutes"),
        h("span", { class: "minutes-value", "data-remaining": m.remaining, "data-used": m.used },
          h("strong", {}, minutes(m.remaining)), ` of ${minutes(m.limit)} left · ${minutes(m.used)} used`)),
      h("div", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": m.limit, "aria-valuenow": m.used, "aria-label": "Upload minutes used" },
        h("span", { style: `width:${used.toFixed(1)}%` })));
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

  saved(saved) {
    this.addResult(saved, true);
    const recent = this.recent().filter((r) => r.id !== saved.id);
    recent.unshift(saved);
    localStorage.setItem(this.recentKey, JSON.stringify(recent.slice(0, 8)));
    this.refreshMinutes();
  }

  addResult(saved, announce) {
    const card = saved.kind === "collection"
      ? new CollectionCard(this.ctx, saved)
      : new TrackCard(this.ctx, { id: saved.id, title: saved.title, onUpdate: () => this.refreshMinutes() });
    this.resultsSection.hidden = false;
    if (announce) this.results.prepend(card.el);
    else this.results.append(card.el);
    if (announce) card.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  forget(id) {
    localStorage.setItem(this.recentKey, JSON.stringify(this.recent().filter((r) => r.id !== id)));
    this.results.querySelector(`[data-collection-id="${id}"]`)?.remove();
    if (!this.results.children.length) this.resultsSection.hidden = true;
  }

  recent() {
    try {
      return JSON.parse(localStorage.getItem(this.recentKey) || "[]");
    } catch {
      return [];
    }
  }

  restoreRecent() {
    for (const saved of this.recent()) this.addResult(saved, false);
  }
}

async function boot() {
  const token = takeToken();
  if (!token) {
    showSignIn();
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

boot();
