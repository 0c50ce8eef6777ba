// Resumable uploads over tus (tus-js-client). A file's fingerprint is stored in localStorage, so a
// dropped connection or a page reload continues from the server's offset instead of starting over.
import * as tus from "tus-js-client";
import { requestIdOf } from "./api.js";
import { PAGE } from "./dom.js";
import { sniffFile } from "./sniff.js";

const CHUNK_SIZE = 5 * 1024 * 1024;
// Large files go as parallel partial uploads, joined by a final upload (tus concatenation), as
// the gateway's settings say: how many at once, from which size, each part at least partMinBytes.
const UPLOADS = PAGE.uploads || {};

/** How many partial uploads to send `size` bytes as (1: one plain upload). */
export function parallelParts(size) {
  const { parallelParts: most = 1, parallelFromBytes = Infinity, partMinBytes = Infinity } = UPLOADS;
  if (size < parallelFromBytes) return 1;
  return Math.max(1, Math.min(most, Math.floor(size / partMinBytes)));
}
const SPEED_WINDOW_MS = 4000;
// The gateway inspects a finished upload at once; a few seconds of asking is plenty.
const INSPECT_POLL_MS = 400;
const INSPECT_TRIES = 50;
const active = new Map(); // fingerprint -> FileUpload, so the same file is uploaded once per page

export class FileUpload {
  static for(file, options) {
    const fingerprint = FileUpload.fingerprint(file, options);
    const existing = active.get(fingerprint);
    if (existing && existing.state !== "failed" && existing.state !== "removed") return existing;
    const upload = new FileUpload(file, options, fingerprint);
    active.set(fingerprint, upload);
    document.dispatchEvent(new CustomEvent("beatpass:upload", { detail: fingerprint }));
    return upload;
  }

  static fingerprint(file, { producerId, kind }) {
    return ["beatpass", producerId, kind, file.name, file.type, file.size, file.lastModified].join(":");
  }

  constructor(file, { api, kind }, fingerprint) {
    this.file = file;
    this.kind = kind;
    this.api = api;
    this.token = api.token;
    this.fp = fingerprint;
    this.state = "idle"; // idle | starting | uploading | retrying | paused | offline | done | failed | removed
    this.sent = 0;
    this.total = file.size;
    this.speed = 0;
    this.samples = [];
    this.uploadId = null;
    this.url = null;
    this.resumedFrom = null;
    this.alreadyUploaded = false; // the server had every byte: nothing was sent again
    this.error = null;
    this.format = null; // from the file's first bytes, then from the gateway's inspection
    this.check = "none"; // none | checking | ok | problems | unavailable
    this.inspection = null; // {format, facts, problems} from GET /api/v1/uploads/{id}
    this.requestId = null; // of the last gateway answer about this upload
    sniffFile(file).then((format) => {
      if (!this.inspection) this.format = format;
      this.emit();
    });
    this.listeners = new Set();
    this.users = 0;
    this._onOnline = () => {
      if (this.state === "offline" || this.state === "failed") this.resume();
    };
    window.addEventListener("online", this._onOnline);
  }

  on(listener) {
    this.listeners.add(listener);
    this.users += 1;
    return () => {
      this.listeners.delete(listener);
      this.users -= 1;
    };
  }

  emit() {
    for (const listener of this.listeners) listener(this);
  }

  get percent() {
    return this.total ? Math.floor((this.sent / this.total) * 100) : 0;
  }

  get done() {
    return this.state === "done";
  }

  async start() {
    if (this.tus) return;
    this.state = "starting";
    this.emit();
    this.parts = parallelParts(this.file.size);
    const parallel = this.parts > 1;
    const upload = new tus.Upload(this.file, {
      endpoint: "/api/v1/uploads",
      // a partial's chunk is one whole part of the gateway's: nothing is parked between chunks
      chunkSize: parallel ? UPLOADS.partBytes : CHUNK_SIZE,
      ...(parallel ? { parallelUploads: this.parts } : {}),
      retryDelays: [0, 1000, 3000, 5000],
      headers: { Authorization: `Bearer ${this.token}` },
      // `kind` tells the gateway which checks to run on the finished upload
      metadata: { filename: this.file.name, filetype: this.file.type || (this.kind === "audio" ? "audio/wav" : ""), kind: this.kind },
      fingerprint: () => Promise.resolve(this.fp),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: false,
      onAfterResponse: (req, res) => {
        // A resumed upload starts with HEAD: the server's offset is where we continue. (In
        // parallel parts each HEAD is one part's; tus-js-client sums their progress itself.)
        if (!parallel && req.getMethod() === "HEAD" && res.getStatus() === 200) {
          const offset = Number(res.getHeader("Upload-Offset"));
          this.resumedFrom = offset;
          this.alreadyUploaded = offset === Number(res.getHeader("Upload-Length"));
          this.progress(offset, this.total, true);
        }
        const id = res.getHeader("X-Request-Id");
        if (id) this.requestId = id;
      },
      onProgress: (sent, total) => this.progress(sent, total),
      onSuccess: () => {
        this.url = upload.url;
        this.uploadId = upload.url.split("/").pop();
        this.sent = this.total;
        this.state = "done";
        this.speed = 0;
        this.emit();
        this.inspect();
      },
      onError: (error) => {
        const status = error?.originalResponse?.getStatus?.() || 0;
        this.speed = 0;
        if (!status && !navigator.onLine) {
          this.state = "offline";
        } else {
          this.state = "failed";
          this.error = status
            ? (error.originalResponse.getBody?.() || "").trim() || `The upload failed (HTTP ${status}).`
            : "The connection dropped. Resume to continue from where it stopped.";
        }
        this.emit();
      },
      onShouldRetry: (error) => {
        const status = error?.originalResponse?.getStatus?.() || 0;
        const retry = (status === 0 && navigator.onLine) || status === 409 || status === 423 || status >= 500;
        if (retry) {
          this.state = "retrying";
          this.speed = 0;
          this.emit();
        }
        return retry;
      },
    });
    this.tus = upload;
    try {
      const previous = await upload.findPreviousUploads();
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    } catch {
      // storage unavailable: upload from the start
    }
    this.state = "uploading";
    this.emit();
    upload.start();
  }

  progress(sent, total, reset = false) {
    const now = performance.now();
    if (reset) this.samples = [];
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > SPEED_WINDOW_MS) this.samples.shift();
    const [t0, b0] = this.samples[0];
    this.speed = now - t0 > 250 ? ((sent - b0) / (now - t0)) * 1000 : this.speed;
    this.sent = sent;
    this.total = total;
    if (this.state !== "done" && !reset) this.state = "uploading";
    this.emit();
  }

  /**
   * The gateway's inspection of the finished upload (same reader and rules as validation), so
   * the file card shows a problem before Save. Without the route (an older gateway) the check is
   * "unavailable" and Save relies on validation as before.
   */
  async inspect() {
    if (!PAGE.features?.uploadInspection || !this.uploadId) return;
    this.check = "checking";
    this.emit();
    for (let i = 0; i < INSPECT_TRIES && this.state === "done"; i += 1) {
      try {
        const doc = await this.api.get(`/api/v1/uploads/${this.uploadId}`);
        this.requestId = requestIdOf(doc) || this.requestId;
        if (doc?.inspection) {
          this.inspection = doc.inspection;
          this.format = doc.inspection.format || this.format;
          this.check = doc.inspection.problems?.length ? "problems" : "ok";
          this.emit();
          return;
        }
      } catch (err) {
        this.requestId = err.requestId || this.requestId;
        break;
      }
      await new Promise((resolve) => { setTimeout(resolve, INSPECT_POLL_MS); });
    }
    if (this.state === "done") {
      this.check = "unavailable";
      this.emit();
    }
  }

  /** The inspection's problems for this file: [{field, code, message}]. */
  get problems() {
    return this.inspection?.problems || [];
  }

  pause() {
    if (!this.tus || this.done) return;
    this.tus.abort(false);
    this.state = "paused";
    this.speed = 0;
    this.emit();
  }

  resume() {
    if (!this.tus || this.done) return;
    this.state = "uploading";
    this.error = null;
    this.samples = [];
    this.emit();
    this.tus.start();
  }

  /** The file is no longer wanted: stop, and delete the server's copy unless it is done (it may be reused). */
  remove() {
    if (this.users > 0) return;
    window.removeEventListener("online", this._onOnline);
    if (active.get(this.fp) === this) active.delete(this.fp);
    if (this.tus && !this.done) {
      this.tus.abort(true).catch(() => null);
    }
    this.state = "removed";
  }

  /** After a save the audio upload belongs to a track: never resume it again. */
  forget() {
    if (active.get(this.fp) === this) active.delete(this.fp);
    window.removeEventListener("online", this._onOnline);
    forgetFingerprint(this.fp);
  }
}

export function forgetFingerprint(fingerprint) {
  const storage = tus.defaultOptions.urlStorage;
  if (!storage) return;
  storage
    .findUploadsByFingerprint(fingerprint)
    .then((found) => Promise.all(found.map((u) => storage.removeUpload(u.urlStorageKey))))
    .catch(() => null);
}

/** Duration of a WAV (RIFF or RF64) from its header, or null. */
export async function wavDuration(file) {
  const head = new DataView(await file.slice(0, 64 * 1024).arrayBuffer());
  const tag = (o) => String.fromCharCode(head.getUint8(o), head.getUint8(o + 1), head.getUint8(o + 2), head.getUint8(o + 3));
  if (head.byteLength < 12 || !["RIFF", "RF64"].includes(tag(0)) || tag(8) !== "WAVE") return null;
  let offset = 12;
  let byteRate = 0;
  let dataSize = 0;
  let ds64 = 0;
  while (offset + 8 <= head.byteLength) {
    const id = tag(offset);
    const size = head.getUint32(offset + 4, true);
    if (id === "ds64" && offset + 24 <= head.byteLength) ds64 = Number(head.getBigUint64(offset + 16, true));
    if (id === "fmt " && offset + 16 <= head.byteLength) byteRate = head.getUint32(offset + 16, true);
    if (id === "data") {
      dataSize = size === 0xffffffff ? ds64 : size;
      break;
    }
    offset += 8 + size + (size % 2);
  }
  if (!byteRate || !dataSize) return null;
  return Math.min(dataSize, file.size) / byteRate;
}

/** Uploads of this producer that a previous page left unfinished (fingerprints in localStorage);
 * a file sent in parallel parts counts as one, its offset the sum of its parts'. */
export async function unfinishedUploads(producerId, token) {
  const storage = tus.defaultOptions.urlStorage;
  if (!storage) return [];
  let entries = [];
  try {
    entries = await storage.findAllUploads();
  } catch {
    return [];
  }
  const prefix = `beatpass:${producerId}:`;
  const headers = { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" };
  const found = [];
  for (const entry of entries) {
    const key = entry.urlStorageKey || "";
    const fingerprint = key.slice("tus::".length, key.lastIndexOf("::"));
    const urls = entry.uploadUrl ? [entry.uploadUrl] : entry.parallelUploadUrls || [];
    if (!fingerprint.startsWith(prefix) || !urls.length || urls.some((u) => !u) || active.has(fingerprint)) continue;
    try {
      let offset = 0;
      let length = 0;
      let usable = true;
      for (const url of urls) {
        const res = await fetch(url, { method: "HEAD", headers });
        if (!res.ok) {
          if (res.status === 404 || res.status === 410) storage.removeUpload(key).catch(() => null);
          usable = false;
          break;
        }
        offset += Number(res.headers.get("Upload-Offset"));
        length += Number(res.headers.get("Upload-Length"));
      }
      if (usable && offset < length) {
        found.push({ key, fingerprint, urls, name: entry.metadata?.filename || "file", offset, length });
      }
    } catch {
      // offline: nothing to offer now
    }
  }
  return found;
}

/** Give up an unfinished upload: the server deletes what it kept (every part of a parallel one). */
export async function discardUpload(item, token) {
  const headers = { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" };
  await Promise.all(item.urls.map((url) => fetch(url, { method: "DELETE", headers }).catch(() => null)));
  await tus.defaultOptions.urlStorage?.removeUpload(item.key).catch(() => null);
}
