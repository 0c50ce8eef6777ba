// The forms that open inside a track card: edit details, replace files, retry, dispute. Each
// returns {el, destroy(), focus} and calls back into the card when it is done.
import { h, clear } from "./dom.js";
import { errorsOf, idempotencyKey, requestIdOf } from "./api.js";
import { FileSlot, TrackEditor } from "./fields.js";

export function errorList(errors, cls = "messages error") {
  if (!errors?.length) return null;
  return h("ul", { class: cls, role: cls.includes("error") ? "alert" : null }, errors.map((e) => h("li", {}, e.message)));
}

function panelForm(cls, onsubmit, ...children) {
  return h("form", { class: `panel ${cls}`, novalidate: true, onsubmit: (e) => { e.preventDefault(); onsubmit(); } }, children);
}

function cancelButton(card) {
  return h("button", { type: "button", class: "button secondary", onclick: () => card.closePanel(true) }, "Cancel");
}

/** Change a saved track's details (PATCH): the same rules and sentences as a save. */
export function editPanel(card) {
  const saved = card.view.metadata || {};
  const editor = new TrackEditor(card.ctx, { fieldsOnly: true, initial: saved, editOf: saved, onChange: () => null });
  const errors = h("div", { class: "form-errors", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button" }, "Save changes");
  const el = panelForm("edit-panel", async () => {
    clear(errors);
    if (editor.problems().length) {
      editor.touchAll();
      editor.focus(editor.problems()[0].field);
      return;
    }
    const body = editor.changes(saved);
    if (!Object.keys(body).length) {
      clear(errors, errorList([{ code: "EDIT_EMPTY", message: card.ctx.rules.messages.EDIT_EMPTY }]));
      return;
    }
    submit.disabled = true;
    try {
      const view = await card.ctx.api.patch(`/api/v1/tracks/${card.id}`, body, { "Idempotency-Key": idempotencyKey() });
      card.requestId = requestIdOf(view) || card.requestId;
      card.closePanel(false);
      card.update(view);
      card.ctx.announce?.("Details saved.");
      card.focus();
    } catch (err) {
      card.requestId = err.requestId || card.requestId;
      const list = errorsOf(err);
      editor.showServerErrors(list);
      clear(errors, errorList(list.filter((e) => !e.field || !(e.field in editor.controls))));
      submit.disabled = false;
    }
  },
  h("p", { class: "muted" }, ["rejected", "failed"].includes(card.status)
    ? "Change the details of this track. The audio and cover stay as they are, and the track is not checked again: use Retry for that."
    : "Change the details of this track. The audio and cover stay as they are."),
  editor.el, errors,
  h("div", { class: "card-actions" }, submit, cancelButton(card)));
  // A BPM warning is why most producers open this: start there.
  const bpmWarned = (card.view.warnings || []).some((w) => /BPM/.test(w.code || "") || w.field === "bpm");
  return { el, destroy: () => editor.destroy(), focus: () => editor.controls[bpmWarned ? "bpm" : "title"].focus() };
}

/**
 * A new version of `target` (this card's track, or the ready track a duplicate matched): a new
 * audio file, a new cover, or both; the current details are kept (POST …/replace).
 */
export function replacePanel(card, target = { id: card.id, title: card.title, collectionId: card.collectionId }) {
  const ctx = card.ctx;
  const errors = h("div", { class: "form-errors", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button", disabled: true }, "Save new version");
  const context = () => card.supportContext();
  const refresh = () => {
    const slots = [audio, cover];
    const chosen = slots.some((s) => s.uploadId);
    submit.disabled = !chosen || slots.some((s) => s.busy || s.problems().length);
  };
  const audio = new FileSlot(ctx, { kind: "audio", label: "New audio (WAV)", hint: "Only if the audio changes", optional: true, quota: true,
    accept: ".wav,audio/wav,audio/x-wav,audio/wave", context, onChange: () => refresh() });
  const cover = new FileSlot(ctx, { kind: "cover", label: "New cover art", hint: "Only if the cover changes", optional: true,
    accept: "image/jpeg,image/png,.jpg,.jpeg,.png", context, onChange: () => refresh() });
  const el = panelForm("replace-panel", async () => {
    if (submit.disabled) return;
    submit.disabled = true;
    clear(errors);
    const body = {};
    if (audio.uploadId) body.audio_upload_id = audio.uploadId;
    if (cover.uploadId) body.cover_upload_id = cover.uploadId;
    try {
      const result = await ctx.api.post(`/api/v1/tracks/${target.id}/replace`, body, { "Idempotency-Key": idempotencyKey() });
      card.requestId = requestIdOf(result) || card.requestId;
      audio.consumed();
      cover.consumed();
      card.closePanel(false);
      ctx.announce?.(`A new version of ${target.title} is processing.`);
      ctx.onReplaced?.({ oldId: target.id, newId: result.track_id, title: target.title, collectionId: target.collectionId, uploadIds: body });
      ctx.refreshMinutes?.();
    } catch (err) {
      card.requestId = err.requestId || card.requestId;
      clear(errors, errorList(errorsOf(err)));
      for (const e of errorsOf(err)) {
        if (e.field === "audio" || e.field === "audio_upload_id") audio.setError(e.message);
        if (e.field === "cover" || e.field === "cover_upload_id") cover.setError(e.message);
      }
      refresh();
    }
  },
  h("p", { class: "muted" }, target.id === card.id
    ? "Choose a new audio file, a new cover, or both. The details stay; the current version stays live until the new one is ready."
    : `Choose the audio for a new version of “${target.title}”. Its details stay; it stays live until the new version is ready.`),
  h("div", { class: "files replace-files" }, audio.el, cover.el), errors,
  h("div", { class: "card-actions" }, submit, cancelButton(card)));
  return { el, destroy: () => { audio.release(); cover.release(); }, focus: () => audio.input.focus() };
}

/** Send a rejected or failed track again, optionally with new files or details. */
export function retryPanel(card) {
  const v = card.view;
  let submit = null;
  const editor = new TrackEditor(card.ctx, {
    uploadsOptional: true, coverOptional: true, initial: v.metadata || {}, context: () => card.supportContext(),
    audioLabel: "Replacement audio", coverLabel: "Replacement cover",
    audioHint: "Only if the audio must change", coverHint: "Keeps the current cover unless you add one",
    onChange: () => update(),
  });
  // A rejected track sent again as it is can only be rejected again: it waits for a change.
  const rejected = v.status === "rejected";
  const changed = () => Boolean(editor.audio.upload || editor.cover.upload) || Object.keys(editor.changes(v.metadata || {})).length > 0;
  const note = h("p", { class: "muted retry-note", id: `retry-note-${card.id}` });
  const errors = h("div", { "aria-live": "polite" });
  submit = h("button", { type: "submit", class: "button", "aria-describedby": note.id }, "Retry this track");
  function update() {
    if (!submit) return;
    const waiting = rejected && !changed();
    submit.disabled = waiting || editor.problems().length > 0;
    note.textContent = waiting
      ? "Choose a new file or change a detail first: sent again unchanged, this track would be rejected again."
      : "Retry sends this track to be checked again.";
  }
  const el = panelForm("retry-panel", async () => {
    if (editor.problems().length) {
      editor.touchAll();
      return;
    }
    if (rejected && !changed()) return;
    submit.disabled = true;
    const body = editor.payload();
    const path = card.collectionId
      ? `/api/v1/collections/${card.collectionId}/tracks/${card.id}/retry`
      : `/api/v1/tracks/${card.id}/retry`;
    try {
      const result = await card.ctx.api.post(path, body, { "Idempotency-Key": idempotencyKey() });
      card.requestId = requestIdOf(result) || card.requestId;
      card.uploadIds = { audio: body.audio_upload_id || card.uploadIds?.audio, cover: body.cover_upload_id || card.uploadIds?.cover };
      editor.audio.consumed();
      editor.cover.consumed();
      card.closePanel(false);
      card.resubmitted(result.submission);
      card.ctx.refreshMinutes();
    } catch (err) {
      card.requestId = err.requestId || card.requestId;
      const list = errorsOf(err);
      editor.showServerErrors(list);
      clear(errors, errorList(list.filter((e) => !e.field || !["audio", "cover", ...Object.keys(editor.controls)].includes(e.field))));
      update();
    }
  },
  h("p", { class: "muted" }, card.collectionId
    ? "Only this track is sent again. Replace the file or correct the details if needed."
    : "Replace the file or correct the details if needed, then retry."),
  editor.el, errors,
  h("div", { class: "card-actions" }, submit, cancelButton(card)), note);
  update();
  return { el, destroy: () => editor.destroy(), focus: () => el.querySelector("input, select, textarea, button")?.focus() };
}

/** Contest a duplicate match, with a reason checked like the API checks it. */
export function disputePanel(card) {
  const rules = card.ctx.rules;
  const limits = rules.dispute_reason || { min: 3, max: 2000 };
  const id = `dispute-${card.id}`;
  const errorId = `${id}-error`;
  const reason = h("textarea", { id, rows: 3, "aria-describedby": errorId });
  const error = h("p", { class: "field-error", id: errorId, "aria-live": "polite" });
  const errors = h("div", { "aria-live": "polite" });
  const send = h("button", { type: "submit", class: "button" }, "Send dispute");
  reason.addEventListener("input", () => { error.textContent = ""; reason.setAttribute("aria-invalid", "false"); });
  const el = panelForm("dispute-panel", async () => {
    const text = reason.value.trim();
    if (text.length < limits.min || text.length > limits.max) {
      // Our own sentence (the API's), not only the browser's bubble.
      error.textContent = rules.messages.DISPUTE_REASON_REQUIRED;
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    send.disabled = true;
    try {
      const view = await card.ctx.api.post(`/api/v1/tracks/${card.id}/dispute`, { reason: reason.value });
      card.requestId = requestIdOf(view) || card.requestId;
      card.closePanel(false);
      card.update(view);
      card.watch.start();
      card.focus();
    } catch (err) {
      card.requestId = err.requestId || card.requestId;
      clear(errors, errorList(errorsOf(err)));
      send.disabled = false;
    }
  },
  h("label", { for: id }, "Why is this not a duplicate?"), reason, error, errors,
  h("div", { class: "card-actions" }, send, cancelButton(card)));
  return { el, destroy: () => null, focus: () => reason.focus() };
}
