// Small DOM helpers: element builder, ids, number formatting.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "style") el.style.cssText = value; // CSSOM: allowed by the page's CSP, a style attribute is not
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** The page's settings, from its JSON data block (the CSP allows no inline script). */
export const PAGE = JSON.parse(document.getElementById("beatpass-config")?.textContent || "{}");

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
export const uid = (prefix) => `${prefix}-${++counter}`;

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB"];
  let value = n;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  // Trailing ".0" dropped, as the server's sentences write sizes (media_rules.size): "21 MB".
  return `${value.toFixed(value < 100 && unit !== "kB" ? 1 : 0).replace(/\.0$/, "")} ${unit}`;
}

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

/** m:ss rounded up to the second, as the gateway's quota sentences count (quota.clock). */
export function clockUp(seconds) {
  const s = Math.ceil(Math.max(0, Number(seconds) || 0) - 1e-9);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The producer's upload minutes left, in seconds: GET /api/v1/me's upload_minutes.remaining_s,
 * else its `remaining` (minutes to two decimals, so within a second of the gateway's figure).
 */
export function remainingSeconds(m) {
  const seconds = Number.isFinite(m?.remaining_s) ? m.remaining_s : Math.round((Number(m?.remaining) || 0) * 60);
  return Math.max(0, seconds);
}

/**
 * The gateway's refusal when a save needs more upload minutes than are left, word for word
 * (quota.exceeded_message; a collection gives the sum of its tracks).
 */
export function quotaMessage(trackSeconds, remaining) {
  return `This track is ${clockUp(trackSeconds)} long, but you have ${clockUp(remaining)} of upload minutes left. `
    + "Remove or shorten a track, or ask BeatPass to raise your limit.";
}

/** Whether `seconds` more fit in what is left (the gateway's test: used + n <= limit). */
export function fitsMinutes(seconds, m) {
  return !m || seconds <= remainingSeconds(m) + 1e-6;
}

/** A duration in words for notes: "45 s", "2 min 10 s", "1 h 5 min". */
export function elapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * The upload-minutes figures as the page shows them, in seconds and m:ss like the gateway's quota
 * sentences: `left` is the gateway's remaining_s and `used` the limit minus that, so the two shown
 * always add up to the limit (never 599.3 + 0.8); past the limit (it was lowered) `used` is the
 * gateway's own figure.
 */
export function minutesFigures(m) {
  const limit = Math.max(0, Number(m?.limit) || 0) * 60;
  const left = Math.ceil(remainingSeconds(m) - 1e-9); // counted up, as clockUp and the quota sentences
  const used = left > 0 ? Math.max(0, limit - left) : Math.round((Number(m?.used) || 0) * 60);
  return { limit, used, left };
}

/**
 * Run `rebuild()` (which replaces children of `container`) without losing keyboard focus: the
 * element that had it gets it back, or its replacement with the same `data-focus` key, or
 * `fallback` (an element or a function giving one). Without this a redraw drops focus to <body>.
 */
export function keepFocus(container, rebuild, fallback = null) {
  const active = document.activeElement;
  const inside = active && active !== document.body && container.contains(active);
  const key = inside ? active.dataset.focus : undefined;
  rebuild();
  if (!inside || document.activeElement === active) return;
  if (active.isConnected && container.contains(active) && !active.closest("[hidden]")) {
    active.focus({ preventScroll: true });
    return;
  }
  const same = key && [...container.querySelectorAll("[data-focus]")].find((el) => el.dataset.focus === key && !el.closest("[hidden]"));
  const target = same || (typeof fallback === "function" ? fallback() : fallback);
  target?.focus({ preventScroll: true });
}

/** Hide `el`; if it had keyboard focus, hand it to `next` first (focus never falls to <body>). */
export function hideKeepingFocus(el, next) {
  if (el.hidden) return;
  const had = el.contains(document.activeElement);
  el.hidden = true;
  if (had) next?.focus({ preventScroll: true });
}

export function splitList(text) {
  return String(text || "")
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
}
