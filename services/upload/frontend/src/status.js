// Saved tracks and collections: live status per step from the SSE stream, then the waveform and
// cover; errors exactly as the API words them; Dispute for duplicates; Retry for failed items.
import { h, clear, clock, elapsed } from "./dom.js";
import { ApiError, idempotencyKey } from "./api.js";
import { drawWaveform } from "./waveform.js";
import { TrackEditor } from "./fields.js";

const FINAL = new Set(["ready", "rejected", "failed", "in_review"]);
const STATUS_LABELS = { processing: "Processing", ready: "Ready", rejected: "Rejected", failed: "Failed", in_review: "In review", partial: "Partly ready" };
const STEP_LABELS = { validation: "Validation", waveform: "Waveform", fingerprint: "Fingerprint" };
const STATE_LABELS = { pending: "Waiting", running: "Running", done: "Done", failed: "Failed" };

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
  return h("span", { class: `badge badge-${status}`, "data-status": status }, STATUS_LABELS[status] || status);
}

function errorList(errors, cls = "messages error") {
  if (!errors?.length) return null;
  return h("ul", { class: cls, role: cls.includes("error") ? "alert" : null }, errors.map((e) => h("li", {}, e.message)));
}

/** Watches one track: SSE while there is a free connection, otherwise (or on errors) polling. */
class TrackWatch {
  constructor(api, trackId, onView) {
    this.api = api;
    this.trackId = trackId;
    this.onView = onView;
    this.es = null;
    this.timer = null;
    this.stopped = false;
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
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        this.closeStream();
        // Not recorded by the catalog yet, or the stream ended: look again shortly.
        this.timer = setTimeout(() => { this.refresh(); this.connect(); }, 1500);
      }
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
      // Unknown to the gateway (e.g. a remembered track from a reset system): stop asking.
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

export class TrackCard {
  constructor(ctx, { id, title, collectionId = null, onUpdate }) {
    this.ctx = ctx;
    this.id = id;
    this.collectionId = collectionId;
    this.onUpdate = onUpdate || (() => {});
    this.view = { id, title, status: "processing", steps: {}, errors: [], warnings: [] };
    this.drawn = null;
    this.panel = null; // "retry" | "dispute" | null
    this.el = h("article", { class: "track-card", "data-track-id": id, "aria-label": title || "Track" });
    this.watch = new TrackWatch(ctx.api, id, (view) => this.update(view));
    this.watch.onGone = () => {
      this.gone = true;
      clearTimeout(this.tick);
      this.el.remove();
      ctx.forget?.(collectionId || id);
    };
    this.render();
    this.watch.start();
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
    }
    this.render();
    if (before !== this.view.status) {
      this.onUpdate(this);
      this.ctx.announce?.(`${this.view.title || this.view.metadata?.title || "Track"}: ${STATUS_LABELS[this.view.status] || this.view.status}`);
    }
  }

  get status() {
    return this.view.status;
  }

  render() {
    const v = this.view;
    const title = v.title || v.metadata?.title || "Untitled";
    this.el.dataset.status = v.status;
    this.el.setAttribute("aria-label", title);
    const coverLink = v.cover?.thumb || v.cover?.large;
    const cover = coverLink
      ? h("img", { class: "card-cover", src: coverLink, alt: `Cover art of ${title}` })
      : h("div", { class: "card-cover placeholder", "aria-hidden": "true" });
    // A running step past the usual time says so with its elapsed time (from its step.started).
    const slowAfter = this.ctx.rules?.step_slow_after_s ?? 120;
    const slow = [];
    let running = false;
    const steps = h("ol", { class: "steps", "aria-label": "Processing steps" },
      Object.keys(STEP_LABELS).map((name) => {
        const step = v.steps?.[name] || { state: "pending" };
        const skipped = step.state === "pending" && (v.status === "rejected" || v.status === "failed");
        const attempts = step.attempts > 1 ? ` (attempt ${step.attempts})` : "";
        let state = skipped ? "Not run" : `${STATE_LABELS[step.state] || step.state}${attempts}`;
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
        return h("li", { class: `step step-${skipped ? "skipped" : step.state}${isSlow ? " step-slow" : ""}`,
          "data-step": name, "data-state": step.state },
        h("span", { class: "step-dot", "aria-hidden": "true" }),
        h("span", { class: "step-name" }, STEP_LABELS[name]),
        h("span", { class: "step-state" }, state));
      }));
    clearTimeout(this.tick);
    if (running && !this.gone) this.tick = setTimeout(() => this.render(), 1000);
    const facts = v.facts ? h("p", { class: "facts muted" }, [
      v.facts.duration_s != null ? clock(v.facts.duration_s) : null,
      v.facts.sample_rate ? `${(v.facts.sample_rate / 1000).toFixed(1)} kHz` : null,
      v.facts.bit_depth ? `${v.facts.bit_depth}-bit` : null,
      v.facts.loudness_lufs != null ? `${Number(v.facts.loudness_lufs).toFixed(1)} LUFS` : null,
      v.facts.estimated_bpm ? `~${Math.round(v.facts.estimated_bpm)} BPM detected` : null,
    ].filter(Boolean).join(" · ")) : null;
    const meta = v.metadata ? [v.metadata.artists?.join(", "), v.metadata.bpm && `${v.metadata.bpm} BPM`,
      v.metadata.key && `${v.metadata.key} ${v.metadata.scale || ""}`.trim()].filter(Boolean).join(" · ") : "";

    // A failed step: the catalog's sentence (what happened, what to do), once, next to the steps.
    const stepMessages = Object.keys(STEP_LABELS).map((name) => v.steps?.[name])
      .filter((s) => s?.state === "failed" && s.error).map((s) => s.error);
    const errors = (v.errors || []).filter((e) => !stepMessages.includes(e.message));
    const duplicate = v.duplicate && v.status !== "ready" ? v.duplicate : null;

    const actions = [];
    if (duplicate && v.status === "rejected" && !v.dispute) {
      actions.push(h("button", { type: "button", class: "button secondary", onclick: () => this.toggle("dispute"), "aria-expanded": String(this.panel === "dispute") }, "Dispute"));
    }
    if (v.status === "rejected" || v.status === "failed") {
      actions.push(h("button", { type: "button", class: "button", onclick: () => this.toggle("retry"), "aria-expanded": String(this.panel === "retry") }, "Retry"));
    }

    if (!this.waveEl) this.waveEl = h("div", { class: "waveform", role: "img", "aria-label": `Waveform of ${title}` });
    const showWave = v.status === "ready" && v.waveform?.json;
    if (showWave && this.drawn !== v.waveform.json) {
      this.drawn = v.waveform.json;
      drawWaveform(this.waveEl, this.ctx.api, v.waveform.json).catch(() => {
        this.drawn = null;
      });
    }

    clear(this.el,
      h("div", { class: "card-main" },
        cover,
        h("div", { class: "card-body" },
          h("div", { class: "card-title" }, h("h3", {}, title), statusBadge(v.status)),
          meta ? h("p", { class: "muted card-meta" }, meta) : null,
          steps,
          slow.length ? h("p", { class: "step-note", role: "status" }, slow.join(" ")) : null,
          stepMessages.length ? h("ul", { class: "messages error step-failure", role: "alert" },
            stepMessages.map((m) => h("li", {}, m))) : null)),
      showWave ? this.waveEl : null,
      facts,
      errorList(errors),
      duplicate?.title ? h("p", { class: "duplicate" }, "Matched track: ", h("strong", {}, `“${duplicate.title}”`)) : null,
      v.dispute ? h("p", { class: "notice" }, "Dispute sent. BeatPass will review the match.") : null,
      errorList(v.warnings, "messages warning"),
      actions.length ? h("div", { class: "card-actions" }, actions) : null,
      this.panelEl || null);
  }

  toggle(kind) {
    this.panel = this.panel === kind ? null : kind;
    this.panelEl?.editor?.destroy();
    this.panelEl = this.panel === "dispute" ? this.disputePanel() : this.panel === "retry" ? this.retryPanel() : null;
    this.render();
    this.panelEl?.querySelector("textarea, input, select, button")?.focus();
  }

  disputePanel() {
    const reason = h("textarea", { id: `dispute-${this.id}`, rows: 3, required: true });
    const errors = h("div", { "aria-live": "polite" });
    const send = h("button", { type: "submit", class: "button" }, "Send dispute");
    const form = h("form", { class: "panel", onsubmit: async (e) => {
      e.preventDefault();
      send.disabled = true;
      try {
        const view = await this.ctx.api.post(`/api/v1/tracks/${this.id}/dispute`, { reason: reason.value });
        this.panel = null;
        this.panelEl = null;
        this.update(view);
        this.watch.start();
      } catch (err) {
        clear(errors, errorList(err instanceof ApiError ? err.errors : [{ message: String(err) }]));
        send.disabled = false;
      }
    } },
    h("label", { for: reason.id }, "Why is this not a duplicate?"), reason, errors,
    h("div", { class: "card-actions" }, send, h("button", { type: "button", class: "button secondary", onclick: () => this.toggle("dispute") }, "Cancel")));
    return form;
  }

  retryPanel() {
    const v = this.view;
    let submit = null;
    const editor = new TrackEditor(this.ctx, {
      uploadsOptional: true, coverOptional: true, initial: v.metadata || {},
      audioLabel: "Replacement audio", coverLabel: "Replacement cover",
      audioHint: "Only if the audio must change", coverHint: "Keeps the current cover unless you add one",
      onChange: () => { if (submit) submit.disabled = editor.problems().length > 0; },
    });
    const errors = h("div", { "aria-live": "polite" });
    submit = h("button", { type: "submit", class: "button" }, "Retry this track");
    const form = h("form", { class: "panel retry-panel", onsubmit: async (e) => {
      e.preventDefault();
      if (editor.problems().length) {
        editor.touchAll();
        return;
      }
      submit.disabled = true;
      const body = editor.payload();
      const path = this.collectionId
        ? `/api/v1/collections/${this.collectionId}/tracks/${this.id}/retry`
        : `/api/v1/tracks/${this.id}/retry`;
      try {
        const result = await this.ctx.api.post(path, body, { "Idempotency-Key": idempotencyKey() });
        this.minSubmission = result.submission || (this.view.submission || 1) + 1;
        editor.audio.consumed();
        editor.cover.consumed();
        editor.destroy();
        this.panel = null;
        this.panelEl = null;
        this.drawn = null;
        const pending = this.minSubmission;
        this.minSubmission = null;
        this.update({ ...this.view, submission: pending, status: "processing", errors: [], warnings: [], duplicate: null, facts: null, dispute: null,
          steps: Object.fromEntries(Object.keys(STEP_LABELS).map((n) => [n, { state: "pending" }])) });
        this.minSubmission = pending;
        this.watch.stop();
        this.watch.start();
        this.ctx.refreshMinutes();
      } catch (err) {
        const list = err instanceof ApiError ? err.errors : [{ message: String(err) }];
        editor.showServerErrors(list);
        clear(errors, errorList(list.filter((e) => !e.field || !["audio", "cover", ...Object.keys(editor.controls)].includes(e.field))));
        submit.disabled = false;
      }
    } },
    h("p", { class: "muted" }, this.collectionId
      ? "Only this track is sent again. Replace the file or correct the details if needed."
      : "Replace the file or correct the details if needed, then retry."),
    editor.el, errors,
    h("div", { class: "card-actions" }, submit, h("button", { type: "button", class: "button secondary", onclick: () => this.toggle("retry") }, "Cancel")));
    form.editor = editor;
    return form;
  }
}

export class CollectionCard {
  constructor(ctx, { id, title, trackIds, titles = [] }) {
    this.ctx = ctx;
    this.id = id;
    this.title = title;
    this.status = "processing";
    this.badge = statusBadge("processing");
    this.items = trackIds.map((tid, i) => new TrackCard(ctx, { id: tid, title: titles[i], collectionId: id, onUpdate: () => this.refresh() }));
    this.el = h("article", { class: "collection-card", "data-collection-id": id, "aria-label": title },
      h("div", { class: "card-title" }, h("h3", {}, title), h("span", { class: "muted" }, `${trackIds.length} track${trackIds.length === 1 ? "" : "s"}`), this.badge),
      h("div", { class: "collection-items" }, this.items.map((c) => c.el)));
    this.refresh();
  }

  refresh() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      try {
        const view = await this.ctx.api.get(`/api/v1/collections/${this.id}`);
        this.status = view.status;
        this.badge.replaceWith((this.badge = statusBadge(view.status)));
        this.el.dataset.status = view.status;
        this.ctx.refreshMinutes();
      } catch {
        // the collection is not recorded yet; its items' updates will ask again
      }
      if (this.items.some((c) => c.status === "processing")) this.timer = setTimeout(() => this.refresh(), 5000);
    }, 300);
  }
}
