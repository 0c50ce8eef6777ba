// "Edit collection": its title, album cover and track order (PATCH /api/v1/collections/{id}).
import { h, clear, uid } from "./dom.js";
import { errorsOf, idempotencyKey, requestIdOf } from "./api.js";
import { FileSlot, collectionTitleProblem } from "./fields.js";
import { errorList } from "./panels.js";

/** Move buttons for an ordered list of {id, title}; `onMove` after each move (focus stays on the button). */
export function orderList(entries, { label, onMove }) {
  const list = h("ol", { class: "order-list", "aria-label": label });
  const draw = () => {
    const active = document.activeElement?.dataset?.focus;
    list.replaceChildren(...entries.map((entry, i) => h("li", { "data-id": entry.id },
      h("span", { class: "order-title" }, entry.title),
      h("span", { class: "order-buttons" },
        h("button", { type: "button", class: "link-button", "data-focus": `up-${entry.id}`, disabled: i === 0,
          "aria-label": `Move “${entry.title}” up`, onclick: () => move(i, -1) }, "Move up"),
        h("button", { type: "button", class: "link-button", "data-focus": `down-${entry.id}`, disabled: i === entries.length - 1,
          "aria-label": `Move “${entry.title}” down`, onclick: () => move(i, 1) }, "Move down")))));
    // The moved track's button keeps focus; at the end of the list, its other button takes it.
    if (active) {
      const [dir, id] = [active.slice(0, active.indexOf("-")), active.slice(active.indexOf("-") + 1)];
      const buttons = [...list.querySelectorAll("button")].filter((b) => b.closest("li").dataset.id === id);
      (buttons.find((b) => b.dataset.focus === `${dir}-${id}` && !b.disabled) || buttons.find((b) => !b.disabled))?.focus();
    }
  };
  const move = (i, by) => {
    const j = i + by;
    if (j < 0 || j >= entries.length) return;
    [entries[i], entries[j]] = [entries[j], entries[i]];
    draw();
    onMove?.(entries);
  };
  draw();
  return { el: list, entries: () => entries.map((e) => e.id) };
}

export function collectionEditPanel(card) {
  const ctx = card.ctx;
  const v = card.view;
  const titleId = uid("collection-edit-title");
  const title = h("input", { type: "text", id: titleId, autocomplete: "off", "aria-describedby": `${titleId}-error` });
  title.value = v.title || "";
  const titleError = h("p", { class: "field-error", id: `${titleId}-error`, "aria-live": "polite" });
  const cover = new FileSlot(ctx, { kind: "cover", label: "New album cover", hint: "Only if the cover changes", optional: true,
    accept: "image/jpeg,image/png,.jpg,.jpeg,.png", context: () => ({ mode: "collection", collectionTitle: v.title }),
    onChange: () => null });
  const before = card.items.map((c) => c.id);
  const order = orderList(card.items.map((c) => ({ id: c.id, title: c.title })), { label: "Track order" });
  const errors = h("div", { class: "form-errors", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button" }, "Save changes");
  const el = h("form", { class: "panel collection-edit-panel", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clear(errors);
    titleError.textContent = "";
    const text = title.value.trim();
    // Judged only when changed, as the API judges an edit's given fields alone.
    const problem = text !== v.title ? collectionTitleProblem(title.value, ctx.rules)?.message : "";
    if (problem) {
      titleError.textContent = problem;
      title.focus();
      return;
    }
    if (cover.busy || cover.problems().length) {
      clear(errors, errorList(cover.busy ? [{ message: `The album cover is still uploading (${cover.upload.percent} %).` }] : cover.problems()));
      return;
    }
    const body = {};
    if (text !== v.title) body.title = text;
    if (cover.uploadId) body.cover_upload_id = cover.uploadId;
    const ids = order.entries();
    if (ids.join() !== before.join()) body.track_ids = ids;
    if (!Object.keys(body).length) {
      clear(errors, errorList([{ code: "EDIT_EMPTY", message: ctx.rules.messages.EDIT_EMPTY }]));
      return;
    }
    submit.disabled = true;
    try {
      const view = await ctx.api.patch(`/api/v1/collections/${card.id}`, body, { "Idempotency-Key": idempotencyKey() });
      card.requestId = requestIdOf(view) || card.requestId;
      cover.consumed();
      card.closePanel(false);
      card.apply(view);
      card.refresh();
      ctx.announce?.("Collection saved.");
      card.focus();
    } catch (err) {
      card.requestId = err.requestId || card.requestId;
      const list = errorsOf(err);
      const titleErr = list.find((x) => x.field === "title");
      if (titleErr) titleError.textContent = titleErr.message;
      const coverErr = list.find((x) => x.field === "cover" || x.field === "cover_upload_id");
      if (coverErr) cover.setError(coverErr.message);
      clear(errors, errorList(list.filter((x) => x !== titleErr && x !== coverErr)));
      submit.disabled = false;
    }
  } },
  h("div", { class: "field" }, h("label", { for: titleId }, "Collection title"), title, titleError),
  cover.el,
  h("h4", { class: "order-heading" }, "Track order"),
  order.el,
  errors,
  h("div", { class: "card-actions" }, submit,
    h("button", { type: "button", class: "button secondary", onclick: () => card.closePanel(true) }, "Cancel")));
  return { el, destroy: () => cover.release(), focus: () => title.focus() };
}
