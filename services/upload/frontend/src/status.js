// Saved tracks and collections: live status per step from the SSE stream, then the waveform
// (a player when the audio can be streamed) and the cover; errors exactly as the API words them;
// the actions that apply (Edit, Replace, Retry, Dispute) and "Copy details for support".
import { h, clear, clock, elapsed, keepFocus, PAGE } from "./dom.js";
import { requestIdOf } from "./api.js";
import { Waveform } from "./waveform.js";
import { supportButton } from "./support.js";
import { editPanel, replacePanel, retryPanel, disputePanel, errorList } from "./panels.js";
import { collectionEditPanel } from "./collection-edit.js";

const FINAL = new Set(["ready", "rejected", "failed", "in_review", "replaced"]);
const STATUS_LABELS = { processing: "Processing", ready: "Ready", rejected: "Rejected", failed: "Failed", in_review: "In review",
  partial: "Partly ready", replaced: "Replaced" };
const STEP_LABELS = { validation: "Validation", waveform: "Waveform", fingerprint: "Fingerprint" };
const STATE_LABELS = { pending: "Waiting", running: "Running", done: "Done", failed: "Failed" };
const PLAYABLE = new Set(["ready", "replaced"]);
// The page's own words for a live track whose new version is in flight (the gateway refuses an
// edit or a replacement meanwhile with NEW_VERSION_PENDING), by the new version's status.
const PENDING_NOTES = {
  processing: "A new version of this track is being processed. It takes this one's place once it is ready; "
    + "edit or replace the track then.",
  in_review: "A new version of this track is in review at BeatPass. You can edit or replace this track once "
    + "that review is decided.",
};
const IN_REVIEW_NOTE = {
  track: "A person at BeatPass is checking this track against the matched track. The decision will show "
    + "here; nothing needs doing meanwhile.",
  version: "A person at BeatPass is checking this new version against the matched track. The decision will "
    + "show here; nothing needs doing meanwhile.",
};
export const IN_FLIGHT = new Set(["processing", "in_review"]); // a new version that may still replace its old one

export const statusLabel = (status) => STATUS_LABELS[status] || status;

/** Browsers allow ~6 connections per host; keep EventSources to a few and poll the rest. */
class StreamPool {
  constructor(size) {
    this.size = size;
    this.used = 0;
  }

  acquire() {
    if (this.used >= this.size) return false;
    this.used += 1;
    return true;
  }

  release() {
    this.used = Math.max(0, this.used - 1);
  }
}
const pool = new StreamPool(3);

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}`, "data-status": status }, statusLabel(status));
}

/** The large cover in a modal dialog; closing it gives focus back to what opened it. */
export function openCover(link, title) {
  const opener = document.activeElement;
  const dialog = h("dialog", { class: "cover-dialog", "aria-label": `Cover art of ${title}` },
    h("img", { src: link, alt: `Cover art of ${title}`, class: "cover-large" }),
    h("form", { method: "dialog" }, h("button", { type: "submit", class: "button secondary" }, "Close")));
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); }); // the backdrop
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener?.focus?.({ preventScroll: true });
  });
  document.body.append(dialog);
  dialog.showModal();
}

/** Watches one track: SSE while there is a free connection, otherwise (or on errors) polling. */
class TrackWatch {
  constructor(api, trackId, onView) {
    this.api = api;
    this.trackId = trackId;
    this.onView = onView;
    this.es = null;
    this.timer = null;
    this.stopped = true;
    this.fetching = null;
    this.missing = 0;
    this.onGone = null;
  }

  start() {
    this.stopped = false;
    this.refresh();
    this.connect();
  }

  connect() {
    if (this.stopped || this.es) return;
    if (!pool.acquire()) {
      this.timer = setTimeout(() => { this.refresh(); this.connect(); }, 2000);
      return;
    }
    // The pool slot is held from here: a placeholder until the ticket arrives and the stream
    // opens. A stop (or a newer connect) in between replaces it, and the late ticket is dropped.
    const slot = { close() {} };
    this.es = slot;
    this.api.streamUrl(`/api/v1/tracks/${this.trackId}/events`).then(
      (url) => this.open(url, slot),
      () => {
        if (this.es !== slot) return;
        this.closeStream();
        this.timer = setTimeout(() => { this.refresh(); this.connect(); }, 1500);
      },
    );
  }

  open(url, slot) {
    if (this.es !== slot) return;
    const es = new EventSource(url);
    this.es = es;
    es.addEventListener("status", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      this.onView({ id: data.track_id, status: data.status, steps: data.steps, partial: true });
      this.refresh();
    });
    // Whatever ended the stream, the browser would reconnect with the same ticket, which expires
    // within a minute: reconnect ourselves with a new one instead.
    es.onerror = () => {
      if (this.es !== es) return;
      this.closeStream();
      if (!this.stopped) this.timer = setTimeout(() => { this.refresh(); this.connect(); }, 1500);
    };
  }

  closeStream() {
    if (this.es) {
      this.es.close();
      this.es = null;
      pool.release();
    }
  }

  refresh() {
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = this.api.get(`/api/v1/tracks/${this.trackId}`).then((view) => {
      const current = this.onView(view) !== false;
      if (current && FINAL.has(view.status)) this.stop();
      else if (!current && !this.es && !this.stopped) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => { this.refresh(); this.connect(); }, 1000);
      }
    }).catch((err) => {
      // Unknown to the gateway (e.g. the system was reset): stop asking.
      if (err?.status === 404 && ++this.missing >= 3) {
        this.stop();
        this.onGone?.();
      }
    }).finally(() => {
      this.fetching = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.refresh();
      }
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.closeStream();
  }
}

/**
 * The step whose finding holds the track back, and what it says: a duplicate match is the
 * fingerprint's ("Found a match", rejected or in review after a dispute alike), any other
 * rejection the last step that finished ("Found problems"). [step, words], or [null, null].
 */
function findingStep(v) {
  if (v.duplicate && (v.status === "rejected" || v.status === "in_review") && v.steps?.fingerprint?.state === "done") {
    return ["fingerprint", "Found a match"];
  }
  if (v.status !== "rejected") return [null, null];
  const done = Object.keys(STEP_LABELS).filter((name) => v.steps?.[name]?.state === "done");
  return done.length ? [done[done.length - 1], "Found problems"] : [null, null];
}

// What the page offers beside Retry on a rejected or failed card: which does what.
const EDIT_OR_RETRY = "Edit details changes the details only. Retry sends the track to be checked again.";

export class TrackCard {
  /**
   * `view`: the track view when known (from the library list); `uploadIds`/`files`: what this
   * page saved (for support details); `collectionId`/`collectionTitle`: an item of a collection.
   */
  constructor(ctx, { id, title, view = null, collectionId = null, collectionTitle = null, uploadIds = null, files = null,
    replaces = null, requestId = null, onUpdate }) {
    this.ctx = ctx;
    this.id = id;
    this.replaces = replaces || view?.replaces_track_id || null; // the track this new version replaces
    this.pendingVersion = null; // {id, status} of a new version still in flight: no edit or replace meanwhile
    this.collectionId = collectionId || view?.collection_id || null;
    this.collectionTitle = collectionTitle;
    this.uploadIds = uploadIds;
    this.files = files;
    this.onUpdate = onUpdate || (() => {});
    this.view = view?.steps ? view : { id, title, status: "processing", steps: {}, errors: [], warnings: [] };
    this.requestId = requestIdOf(view) || requestId; // of the answer that delivered the view (a list's)
    this.panel = null;
    this.panelKind = null;
    this.wave = null;
    this.head = h("div", { class: "card-main" });
    this.waveSlot = h("div", { class: "wave-slot", hidden: true });
    this.details = h("div", { class: "card-details" });
    this.panelHost = h("div", { class: "panel-host" });
    this.el = h("article", { class: "track-card", "data-track-id": id, "aria-label": title || "Track" },
      this.head, this.waveSlot, this.details, this.panelHost);
    this.watch = new TrackWatch(ctx.api, id, (v) => this.update(v));
    this.watch.onGone = () => {
      this.gone = true;
      this.destroy();
      this.el.remove();
    };
    this.render();
    if (!FINAL.has(this.view.status)) this.watch.start();
  }

  get title() {
    return this.view.title || this.view.metadata?.title || "Untitled";
  }

  get status() {
    return this.view.status;
  }

  update(view) {
    const before = this.view.status;
    // After a retry the catalog may still answer with the previous attempt for a moment.
    if (this.minSubmission && (view.partial || (view.submission || 0) < this.minSubmission)) {
      if (!view.partial) return false;
      return true;
    }
    if (this.minSubmission && !view.partial) this.minSubmission = null;
    if (view.partial) {
      const steps = { ...this.view.steps };
      for (const [name, state] of Object.entries(view.steps || {})) steps[name] = { ...(steps[name] || {}), state };
      this.view = { ...this.view, status: view.status, steps };
    } else {
      this.view = view;
      this.replaces = view.replaces_track_id || this.replaces;
      this.requestId = requestIdOf(view) || this.requestId;
    }
    this.render();
    if (before !== this.view.status) {
      this.onUpdate(this);
      this.ctx.announce?.(`${this.title}: ${statusLabel(this.view.status)}`);
    }
    return true;
  }

  /** Read the track once more (e.g. the version it was replaced by became ready). */
  reload() {
    this.watch.refresh();
  }

  /** A retry was accepted: show the next submission as pending and follow it. */
  resubmitted(submission) {
    const pending = submission || (this.view.submission || 0) + 1;
    this.minSubmission = null;
    this.update({ ...this.view, submission: pending, status: "processing", errors: [], warnings: [], duplicate: null, facts: null,
      dispute: null, steps: Object.fromEntries(Object.keys(STEP_LABELS).map((n) => [n, { state: "pending" }])) });
    this.minSubmission = pending;
    this.watch.stop();
    this.watch.start();
  }

  focus() {
    this.el.querySelector("h3")?.focus();
  }

  supportContext() {
    return { mode: this.collectionId ? "collection" : "single track", collectionTitle: this.collectionTitle };
  }

  supportDetails() {
    const v = this.view;
    return {
      ...this.supportContext(),
      errors: v.errors || [],
      warnings: v.warnings || [],
      files: [
        { role: "Audio file", name: v.files?.audio?.filename || v.audio?.filename || this.files?.audio?.name,
          format: v.facts?.format || this.files?.audio?.format },
        v.files?.cover || this.files?.cover
          ? { role: "Cover file", name: v.files?.cover?.filename || this.files?.cover?.name, format: this.files?.cover?.format } : null,
      ],
      trackId: this.id,
      collectionId: this.collectionId,
      // The gateway's record of the submission (view.files), else what this page saved.
      uploadIds: { audio: v.files?.audio?.upload_id || this.uploadIds?.audio, cover: v.files?.cover?.upload_id || this.uploadIds?.cover },
      requestId: this.requestId,
    };
  }

  render() {
    keepFocus(this.el, () => this.draw(), () => this.el.querySelector("h3"));
  }

  draw() {
    const v = this.view;
    const title = this.title;
    this.el.dataset.status = v.status;
    this.el.setAttribute("aria-label", title);
    const large = v.cover?.large || v.cover?.["1000"];
    const thumb = v.cover?.thumb || v.cover?.["300"] || large;
    const cover = thumb
      ? h("button", { type: "button", class: "card-cover-button", "data-focus": "cover", "aria-label": `Open cover art of ${title}`,
        onclick: () => openCover(large || thumb, title) }, h("img", { class: "card-cover", src: thumb, alt: "" }))
      : h("div", { class: "card-cover placeholder", "aria-hidden": "true" });
    // A running step past the usual time says so with its elapsed time (from its step.started).
    const slowAfter = this.ctx.rules?.step_slow_after_s ?? 120;
    const slow = [];
    let running = false;
    const [foundAt, found] = findingStep(v);
    const steps = h("ol", { class: "steps", "aria-label": "Processing steps" },
      Object.keys(STEP_LABELS).map((name) => {
        const step = v.steps?.[name] || { state: "pending" };
        const skipped = step.state === "pending" && (v.status === "rejected" || v.status === "failed");
        const attempts = step.attempts > 1 ? ` (attempt ${step.attempts})` : "";
        // The step that found the problem says so: never "Done" beside "Rejected" or a match.
        let state = skipped ? "Not run" : name === foundAt ? found : `${STATE_LABELS[step.state] || step.state}${attempts}`;
        let isSlow = false;
        const started = step.state === "running" && step.started_at ? Date.parse(step.started_at) : NaN;
        if (!Number.isNaN(started) && v.status === "processing") {
          running = true;
          const seconds = (Date.now() - started) / 1000;
          isSlow = seconds >= slowAfter;
          if (isSlow) {
            state = `Still working (${elapsed(seconds)})`;
            slow.push(`${STEP_LABELS[name]} — still working (${elapsed(seconds)}). This is taking longer than usual; nothing needs doing yet.`);
          }
        }
        const cls = skipped ? "skipped" : name === foundAt ? "rejected" : step.state;
        return h("li", { class: `step step-${cls}${isSlow ? " step-slow" : ""}`, "data-step": name, "data-state": step.state },
          h("span", { class: "step-dot", "aria-hidden": "true" }),
          h("span", { class: "step-name" }, STEP_LABELS[name]),
          h("span", { class: "step-state" }, state));
      }));
    clearTimeout(this.tick);
    if (running && !this.gone) this.tick = setTimeout(() => this.render(), 1000);
    const meta = v.metadata ? [v.metadata.artists?.join(", "), v.metadata.bpm && `${v.metadata.bpm} BPM`,
      v.metadata.key && `${v.metadata.key} ${v.metadata.scale || ""}`.trim()].filter(Boolean).join(" · ") : "";
    // A failed step: the catalog's sentence (what happened, what to do), once, next to the steps.
    const stepMessages = Object.keys(STEP_LABELS).map((name) => v.steps?.[name])
      .filter((s) => s?.state === "failed" && s.error).map((s) => s.error);
    clear(this.head,
      cover,
      h("div", { class: "card-body" },
        h("div", { class: "card-title" }, h("h3", { tabindex: "-1" }, title), statusBadge(v.status)),
        meta ? h("p", { class: "muted card-meta" }, meta) : null,
        steps,
        slow.length ? h("p", { class: "step-note", role: "status" }, slow.join(" ")) : null,
        stepMessages.length ? h("ul", { class: "messages error step-failure", role: "alert" }, stepMessages.map((m) => h("li", {}, m))) : null));
    this.drawWave();
    this.drawDetails(stepMessages);
  }

  drawWave() {
    const v = this.view;
    const show = PLAYABLE.has(v.status) && v.waveform?.json;
    if (show) {
      if (!this.wave) {
        this.wave = new Waveform(this.ctx.api, this.title);
        this.waveSlot.append(this.wave.el);
      }
      this.wave.rename(this.title);
      this.wave.show(v.waveform.json, v.audio?.url).catch(() => {
        if (this.wave) this.wave.link = null; // drawn on the next update
      });
    } else {
      this.wave?.stop();
    }
    this.waveSlot.hidden = !show;
  }

  drawDetails(stepMessages) {
    const v = this.view;
    const f = PAGE.features || {};
    const errors = (v.errors || []).filter((e) => !stepMessages.includes(e.message));
    const duplicate = v.duplicate && v.status !== "ready" ? v.duplicate : null;
    const facts = v.facts ? h("p", { class: "facts muted" }, [
      v.facts.duration_s != null ? clock(v.facts.duration_s) : null,
      v.facts.sample_rate ? `${(v.facts.sample_rate / 1000).toFixed(1)} kHz` : null,
      v.facts.bit_depth ? `${v.facts.bit_depth}-bit` : null,
      v.facts.loudness_lufs != null ? `${Number(v.facts.loudness_lufs).toFixed(1)} LUFS` : null,
      v.facts.estimated_bpm ? `~${Math.round(v.facts.estimated_bpm)} BPM detected` : null,
    ].filter(Boolean).join(" · ")) : null;
    const action = (kind, label, cls = "button secondary") => h("button", { type: "button", class: cls, "data-focus": kind,
      "aria-expanded": String(this.panelKind === kind), onclick: () => this.openPanel(kind) }, label);
    const actions = [];
    const pending = v.status === "ready" && this.pendingVersion;
    // The API takes an edit of any track but a replaced one, or one whose new version is in flight.
    if (v.status !== "replaced" && v.metadata && f.editTrack && !this.pendingVersion) actions.push(action("edit", "Edit details"));
    if (v.status === "ready" && f.replaceTrack && !pending) actions.push(action("replace", "Replace files"));
    if (duplicate?.own && duplicate.track_id && v.status === "rejected" && f.replaceTrack) {
      actions.push(action("matched", `Replace the audio of “${duplicate.title || "the matched track"}”`));
    }
    if (duplicate && v.status === "rejected" && !v.dispute) actions.push(action("dispute", "Dispute"));
    if (v.status === "rejected" || v.status === "failed") actions.push(action("retry", "Retry", "button"));
    const problems = errors.length || stepMessages.length || v.warnings?.length;
    clear(this.details,
      facts,
      errorList(errors),
      duplicate?.title ? h("p", { class: "duplicate" }, "Matched track: ", h("strong", {}, `“${duplicate.title}”`)) : null,
      v.status === "in_review" && !v.dispute
        ? h("p", { class: "notice review-note", role: "status" }, IN_REVIEW_NOTE[this.replaces ? "version" : "track"]) : null,
      v.dispute ? h("p", { class: "notice" }, "Dispute sent. BeatPass will review the match.") : null,
      v.status === "replaced" ? h("p", { class: "notice" }, "Replaced by a newer version.") : null,
      pending ? h("p", { class: "notice pending-version" }, PENDING_NOTES[pending.status] || PENDING_NOTES.processing) : null,
      errorList(v.warnings, "messages warning"),
      problems ? supportButton(() => this.supportDetails()) : null,
      actions.length ? h("div", { class: "card-actions" }, actions) : null,
      actions.some((b) => b.dataset.focus === "edit") && (v.status === "rejected" || v.status === "failed")
        ? h("p", { class: "muted action-note" }, EDIT_OR_RETRY) : null);
  }

  openPanel(kind) {
    if (this.panelKind === kind) {
      this.closePanel(true);
      return;
    }
    this.closePanel(false);
    const dup = this.view.duplicate;
    const makers = {
      edit: editPanel, replace: replacePanel, retry: retryPanel, dispute: disputePanel,
      matched: (card) => replacePanel(card, { id: dup.track_id, title: dup.title || "the matched track", collectionId: null }),
    };
    this.panel = makers[kind](this);
    this.panelKind = kind;
    this.panelHost.replaceChildren(this.panel.el);
    this.render();
    this.panel.focus();
  }

  closePanel(returnFocus) {
    if (!this.panel) return;
    const kind = this.panelKind;
    this.panel.destroy();
    this.panel = null;
    this.panelKind = null;
    this.panelHost.replaceChildren();
    this.render();
    if (returnFocus) (this.details.querySelector(`[data-focus="${kind}"]`) || this.el.querySelector("h3"))?.focus();
  }

  destroy() {
    this.watch.stop();
    clearTimeout(this.tick);
    this.wave?.stop();
    this.panel?.destroy();
  }
}

export class CollectionCard {
  /** From a collection view (the library), or from a save's answer (`trackIds`, `titles`). */
  constructor(ctx, { id, title, view = null, trackIds = [], titles = [], uploadIds = [], files = [], requestId = null }) {
    this.ctx = ctx;
    this.id = id;
    this.view = view || { id, title, status: "processing", errors: [], cover: {}, items: trackIds.map((tid) => ({ id: tid })) };
    this.requestId = requestIdOf(view) || requestId;
    this.panel = null;
    this.pending = new Map(); // id -> TrackCard of a new version, shown here until it joins
    const items = this.view.items || [];
    this.items = items.map((item, i) => this.itemCard(item, titles[i], uploadIds[i], files[i]));
    this.head = h("div", { class: "collection-head-row" });
    this.list = h("div", { class: "collection-items" }, this.items.map((c) => c.el));
    this.details = h("div", { class: "card-details" });
    this.panelHost = h("div", { class: "panel-host" });
    this.el = h("article", { class: "collection-card", "data-collection-id": id, "aria-label": this.view.title || title },
      this.head, this.details, this.panelHost, this.list);
    this.render();
    if (this.unsettled()) this.refresh();
  }

  unsettled() {
    return this.status === "processing" || this.view.cover_change?.state === "checking"
      || [...this.items, ...this.pending.values()].some((c) => c.status === "processing");
  }

  /** While a new version is in flight, its old one takes no edit or replacement (NEW_VERSION_PENDING). */
  versionChanged(card) {
    const old = this.items.find((c) => c.id === card.replaces);
    if (!old) return;
    old.pendingVersion = IN_FLIGHT.has(card.status) ? { id: card.id, status: card.status } : null;
    old.render();
  }

  /** A new version of one of its tracks: shown here; it takes the old one's place once ready. */
  addVersion({ newId, title, oldId, uploadIds }) {
    const card = new TrackCard(this.ctx, { id: newId, title, replaces: oldId, collectionTitle: this.view.title, uploadIds,
      onUpdate: (c) => { this.versionChanged(c); this.refresh(); } });
    this.versionChanged(card);
    card.el.classList.add("new-version");
    card.el.prepend(h("p", { class: "muted version-note" }, `New version of “${title}”: it takes the current one's place once it is ready.`));
    this.pending.set(newId, card);
    this.list.append(card.el);
    this.refresh();
    return card;
  }

  itemCard(item, title, uploadIds, files) {
    return new TrackCard(this.ctx, { id: item.id, title: title || item.title, view: item.steps ? item : null, collectionId: this.id,
      collectionTitle: this.view.title, uploadIds, files, requestId: this.requestId, onUpdate: () => this.refresh() });
  }

  get status() {
    return this.view.status;
  }

  get title() {
    return this.view.title;
  }

  focus() {
    this.el.querySelector("h3")?.focus();
  }

  render() {
    keepFocus(this.el, () => this.draw(), () => this.el.querySelector("h3"));
  }

  draw() {
    const v = this.view;
    this.el.dataset.status = v.status;
    this.el.setAttribute("aria-label", v.title);
    const large = v.cover?.large || v.cover?.["1000"];
    const thumb = v.cover?.thumb || v.cover?.["300"] || large;
    const count = this.items.length;
    clear(this.head,
      thumb ? h("button", { type: "button", class: "card-cover-button small", "data-focus": "cover", "aria-label": `Open cover art of ${v.title}`,
        onclick: () => openCover(large || thumb, v.title) }, h("img", { class: "card-cover", src: thumb, alt: "" })) : null,
      h("div", { class: "card-title" }, h("h3", { tabindex: "-1" }, v.title),
        h("span", { class: "muted" }, `${count} track${count === 1 ? "" : "s"}`), statusBadge(v.status)));
    const actions = [];
    if ((PAGE.features || {}).editCollection && v.status !== "processing") {
      actions.push(h("button", { type: "button", class: "button secondary", "data-focus": "edit", "aria-expanded": String(Boolean(this.panel)),
        onclick: () => this.togglePanel() }, "Edit collection"));
    }
    // A new album cover shows once validation accepts it; meanwhile, or if refused, say so.
    const change = v.cover_change;
    const problems = [...(v.errors || []), ...(change?.state === "rejected" ? change.errors || [] : [])];
    clear(this.details,
      errorList(v.errors),
      change?.state === "checking"
        ? h("p", { class: "notice cover-change", role: "status" }, "The new album cover is being checked. The current one shows until it is accepted.") : null,
      change?.state === "rejected"
        ? [h("p", { class: "cover-change" }, "The new album cover was not accepted, so the current one stays:"), errorList(change.errors)] : null,
      problems.length ? supportButton(() => ({ mode: "collection", collectionTitle: v.title, errors: problems,
        collectionId: this.id, requestId: this.requestId })) : null,
      actions.length ? h("div", { class: "card-actions" }, actions) : null);
  }

  togglePanel() {
    if (this.panel) {
      this.closePanel(true);
      return;
    }
    this.panel = collectionEditPanel(this);
    this.panelHost.replaceChildren(this.panel.el);
    this.render();
    this.panel.focus();
  }

  closePanel(returnFocus) {
    if (!this.panel) return;
    this.panel.destroy();
    this.panel = null;
    this.panelHost.replaceChildren();
    this.render();
    if (returnFocus) this.details.querySelector('[data-focus="edit"]')?.focus();
  }

  /** A new collection view (after a read or an edit): title, status, cover and the items' order. */
  apply(view) {
    this.view = { ...this.view, ...view };
    this.requestId = requestIdOf(view) || this.requestId;
    const byId = new Map([...this.items, ...this.pending.values()].map((c) => [c.id, c]));
    const next = (view.items || []).map((item) => byId.get(item.id) || this.itemCard(item));
    for (const card of next) {
      card.collectionTitle = view.title;
      if (this.pending.delete(card.id)) {
        card.collectionId = this.id; // a new version that joined, in its old one's place
        card.el.classList.remove("new-version");
        card.el.querySelector(".version-note")?.remove();
      }
    }
    const shown = [...next, ...this.pending.values()];
    for (const card of this.items) if (!shown.includes(card)) card.destroy();
    const order = shown.map((c) => c.id).join();
    if (order !== [...this.list.children].map((el) => el.dataset.trackId).join()) {
      keepFocus(this.list, () => this.list.replaceChildren(...shown.map((c) => c.el)));
    }
    this.items = next;
    this.render();
  }

  refresh() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      try {
        this.apply(await this.ctx.api.get(`/api/v1/collections/${this.id}`));
        this.ctx.refreshMinutes();
      } catch {
        // not readable just now; its items' updates will ask again
      }
      if (this.unsettled()) this.timer = setTimeout(() => this.refresh(), 5000);
    }, 300);
  }

  destroy() {
    clearTimeout(this.timer);
    for (const card of [...this.items, ...this.pending.values()]) card.destroy();
    this.panel?.destroy();
  }
}
