// "Your uploads": the producer's tracks and collections from the API (any device, any browser),
// newest first, a page at a time, filtered by status. Saves made on this page show at once and
// stay on top until the list has them.
import { h, clear, keepFocus, PAGE } from "./dom.js";
import { errorsOf, requestIdOf } from "./api.js";
import { TrackCard, CollectionCard, IN_FLIGHT, statusLabel } from "./status.js";
import { errorList } from "./panels.js";

const TRACK_STATUSES = ["processing", "ready", "rejected", "failed", "in_review", "replaced"];

export class Library {
  constructor(ctx) {
    this.ctx = ctx;
    this.features = PAGE.features || {};
    this.perPage = PAGE.libraryPageSize || 10;
    this.kind = "tracks";
    this.status = "";
    this.page = 1;
    this.total = 0;
    this.loaded = null; // "kind|status|page" of what is shown
    this.cards = new Map(); // id -> TrackCard | CollectionCard, kept while shown
    this.fresh = []; // [{kind, card}] saved here, shown on the first unfiltered page until listed
    this.tabs = {};
    // An edit or a new version made on another device reaches settled cards when the producer
    // comes back to this tab (their streams have ended; a processing card follows its own).
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.revisit();
    });
    const tablist = h("div", { class: "tabs library-tabs", role: "tablist", "aria-label": "Upload kind" });
    const kinds = [["tracks", "Single tracks"]];
    if (this.features.collectionsList) kinds.push(["collections", "Collections"]);
    for (const [kind, label] of kinds) {
      const tab = h("button", { type: "button", role: "tab", id: `library-tab-${kind}`, class: "tab", "aria-controls": "library-list",
        onclick: () => this.show(kind),
        onkeydown: (e) => {
          if (kinds.length > 1 && (e.key === "ArrowRight" || e.key === "ArrowLeft")) {
            e.preventDefault();
            const next = kind === "tracks" ? "collections" : "tracks";
            this.show(next);
            this.tabs[next].focus();
          }
        } }, label);
      this.tabs[kind] = tab;
      tablist.append(tab);
    }
    this.filter = h("select", { id: "library-status", onchange: () => { this.status = this.filter.value; this.page = 1; this.load(); } },
      h("option", { value: "" }, "All statuses"), TRACK_STATUSES.map((s) => h("option", { value: s }, statusLabel(s))));
    this.filterField = h("div", { class: "field inline" }, h("label", { for: "library-status" }, "Status"), this.filter);
    this.list = h("div", { class: "results-list", id: "library-list", role: "tabpanel", "aria-busy": "false" });
    this.note = h("p", { class: "muted library-note", role: "status" });
    this.prev = h("button", { type: "button", class: "button secondary", "data-focus": "prev", onclick: () => this.go(-1) }, "Previous page");
    this.next = h("button", { type: "button", class: "button secondary", "data-focus": "next", onclick: () => this.go(1) }, "Next page");
    this.pageText = h("span", { class: "page-text" });
    this.pager = h("nav", { class: "pager", "aria-label": "Pages of your uploads" }, this.prev, this.pageText, this.next);
    this.el = h("section", { class: "results", "aria-labelledby": "results-title" },
      h("div", { class: "library-head" }, h("h2", { id: "results-title" }, "Your uploads"),
        kinds.length > 1 ? tablist : null, this.filterField),
      this.note, this.list, this.pager);
    this.selectTab();
  }

  show(kind) {
    if (kind === this.kind) return;
    this.kind = kind;
    this.status = "";
    this.filter.value = "";
    this.page = 1;
    this.selectTab();
    this.load();
  }

  selectTab() {
    for (const [kind, tab] of Object.entries(this.tabs)) {
      tab.setAttribute("aria-selected", String(kind === this.kind));
      tab.tabIndex = kind === this.kind ? 0 : -1;
    }
    if (this.tabs[this.kind]) this.list.setAttribute("aria-labelledby", this.tabs[this.kind].id);
    // The collections list filters by nothing but pages; statuses are the tracks'.
    this.filterField.hidden = this.kind !== "tracks";
  }

  go(by) {
    this.page = Math.max(1, this.page + by);
    this.paged = by > 0 ? this.next : this.prev; // keeps keyboard focus once the page is drawn
    this.load();
  }

  /** After a page turn: focus stays on the pressed button while it can be pressed again, else
   * goes to the first card's heading (or the other page button), never to the page's body. */
  keepPagerFocus() {
    const pressed = this.paged;
    this.paged = null;
    if (!pressed || (document.activeElement !== document.body && document.activeElement !== pressed)) return;
    const other = pressed === this.next ? this.prev : this.next;
    const heading = this.list.querySelector("h3");
    const target = !pressed.disabled && !this.pager.hidden ? pressed
      : heading || (!other.disabled && !this.pager.hidden ? other : null);
    target?.focus();
  }

  path() {
    const q = new URLSearchParams({ page: String(this.page), per_page: String(this.perPage) });
    if (this.kind === "tracks") {
      q.set("single", "true");
      if (this.status) q.set("status", this.status);
      return `/api/v1/tracks?${q}`;
    }
    return `/api/v1/collections?${q}`;
  }

  async load() {
    const wanted = `${this.kind}|${this.status}|${this.page}`;
    this.list.setAttribute("aria-busy", "true");
    let doc;
    try {
      doc = await this.ctx.api.get(this.path());
    } catch (err) {
      if (wanted !== `${this.kind}|${this.status}|${this.page}`) return;
      this.list.setAttribute("aria-busy", "false");
      clear(this.note, errorList(errorsOf(err)), h("button", { type: "button", class: "link-button", onclick: () => this.load() }, "Try again"));
      return;
    }
    if (wanted !== `${this.kind}|${this.status}|${this.page}`) return; // a newer choice is loading
    this.requestId = requestIdOf(doc);
    this.total = doc.total ?? doc.items.length;
    const pages = Math.max(1, Math.ceil(this.total / this.perPage));
    if (this.page > pages) {
      this.page = pages;
      this.load();
      return;
    }
    this.loaded = wanted;
    this.draw(doc.items || []);
  }

  /** Read every shown card again. */
  revisit() {
    for (const card of this.cards.values()) {
      if (card instanceof TrackCard) card.reload();
      else card.refresh();
    }
  }

  /** A save from this page: its card on top at once (the list may not have it yet). */
  added({ kind, id, ...rest }) {
    const card = kind === "collection"
      ? new CollectionCard(this.ctx, { id, ...rest })
      : new TrackCard(this.ctx, { id, ...rest, onUpdate: (c) => this.changed(c) });
    this.fresh.unshift({ kind: kind === "collection" ? "collections" : "tracks", card });
    this.cards.set(id, card);
    const showing = kind === "collection" ? "collections" : "tracks";
    if (this.kind !== showing || this.status || this.page !== 1) {
      this.kind = showing;
      this.status = "";
      this.filter.value = "";
      this.page = 1;
      this.selectTab();
      this.load();
    }
    keepFocus(this.list, () => this.list.prepend(card.el));
    this.note.textContent = "";
    return card;
  }

  /**
   * A track changed status. A new version in flight keeps its old one from edits and replacements
   * (the API's NEW_VERSION_PENDING); once ready it replaced the old one, once refused it did not.
   */
  changed(card) {
    this.ctx.refreshMinutes();
    const old = card.replaces;
    if (!old) return;
    const oldCard = this.cards.get(old);
    if (oldCard instanceof TrackCard) {
      oldCard.pendingVersion = IN_FLIGHT.has(card.status) ? { id: card.id, status: card.status } : null;
      if (card.status === "ready") oldCard.reload();
      else oldCard.render();
    } else if (card.status === "ready") {
      for (const c of this.cards.values()) if (c instanceof CollectionCard) c.refresh();
    }
  }

  /** Listed new versions still in flight mark their old versions (on this page or another device). */
  markPending(items) {
    for (const item of items) {
      const oldCard = item.replaces_track_id && IN_FLIGHT.has(item.status) ? this.cards.get(item.replaces_track_id) : null;
      if (oldCard instanceof TrackCard && (oldCard.pendingVersion?.id !== item.id || oldCard.pendingVersion?.status !== item.status)) {
        oldCard.pendingVersion = { id: item.id, status: item.status };
        oldCard.render();
      }
    }
  }

  draw(items) {
    const listed = new Set(items.map((item) => item.id));
    this.fresh = this.fresh.filter((f) => !listed.has(f.card.id));
    const onTop = this.page === 1 && !this.status ? this.fresh.filter((f) => f.kind === this.kind).map((f) => f.card) : [];
    const cards = [...onTop, ...items.map((item) => this.cardFor(item))];
    const shown = new Set(cards);
    for (const [id, card] of this.cards) {
      if (!shown.has(card) && !this.fresh.some((f) => f.card === card)) {
        card.destroy();
        this.cards.delete(id);
      }
    }
    keepFocus(this.list, () => this.list.replaceChildren(...cards.map((c) => c.el)), () => this.tabs[this.kind] || this.filter);
    if (this.kind === "tracks") this.markPending(items);
    this.list.setAttribute("aria-busy", "false");
    const pages = Math.max(1, Math.ceil(this.total / this.perPage));
    const noun = this.kind === "tracks" ? "track" : "collection";
    const count = `${this.total} ${noun}${this.total === 1 ? "" : "s"}`;
    this.note.textContent = cards.length ? "" : this.status
      ? `No ${noun}s with the status “${statusLabel(this.status)}”.`
      : this.kind === "tracks" ? "No single tracks yet. Tracks you save appear here, on any device." : "No collections yet.";
    this.pageText.textContent = `Page ${this.page} of ${pages} · ${count}`;
    this.prev.disabled = this.page <= 1;
    this.next.disabled = this.page >= pages;
    this.pager.hidden = pages <= 1;
    this.keepPagerFocus();
  }

  cardFor(item) {
    const known = this.cards.get(item.id);
    if (known) return known;
    const requestId = this.requestId;
    const card = this.kind === "collections"
      ? new CollectionCard(this.ctx, { id: item.id, title: item.title, view: item, requestId })
      : new TrackCard(this.ctx, { id: item.id, title: item.title, view: item, requestId, onUpdate: (c) => this.changed(c) });
    this.cards.set(item.id, card);
    return card;
  }

  /** After a replace: the new version's card, on top of the same list as its old one. */
  replaced({ oldId, newId, title, collectionId, uploadIds }) {
    const ids = { audio: uploadIds.audio_upload_id, cover: uploadIds.cover_upload_id };
    const owner = collectionId ? this.cards.get(collectionId) : null;
    if (owner instanceof CollectionCard) {
      const card = owner.addVersion({ newId, title, oldId, uploadIds: ids });
      card.focus();
      return card;
    }
    const card = this.added({ kind: "track", id: newId, title, replaces: oldId, uploadIds: ids });
    this.changed(card);
    card.focus();
    return card;
  }
}
