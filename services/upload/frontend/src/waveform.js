// A track's waveform from our own audiowaveform-style JSON (version 2), drawn with wavesurfer.js.
// With the track's audio (the signed /media/audio link) it is also the player's seek bar: a click
// seeks, and the keyboard moves along it (it is a labelled slider).
import WaveSurfer from "wavesurfer.js";
import { h, clock, PAGE } from "./dom.js";

const STEP_S = 5; // arrow keys
const PAGE_FRACTION = 0.1; // Page Up / Page Down
const HAVE_FUTURE_DATA = 3; // HTMLMediaElement.readyState from which a seek holds
let playing = null; // the one Waveform whose audio plays: starting another pauses it

/** Per-channel peaks in [-1, 1] (the larger magnitude of each pixel's min and max) and the duration. */
export function peaksFromJson(doc) {
  const channels = doc.channels || 1;
  const scale = doc.bits === 8 ? 128 : 32768;
  const length = doc.length;
  const data = doc.data;
  const peaks = [];
  for (let c = 0; c < channels; c += 1) {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i += 1) {
      const base = (i * channels + c) * 2;
      const low = data[base];
      const high = data[base + 1];
      out[i] = (Math.abs(low) > Math.abs(high) ? low : high) / scale;
    }
    peaks.push(out);
  }
  return { peaks, duration: (length * doc.samples_per_pixel) / doc.sample_rate };
}

function colors(playable) {
  const style = getComputedStyle(document.documentElement);
  const wave = style.getPropertyValue("--wave").trim() || "#6d4aff";
  // A player shows what was played in the full colour over a lighter rest.
  return playable ? { wave: style.getPropertyValue("--wave-unplayed").trim() || wave, played: wave } : { wave, played: wave };
}

/**
 * The waveform of one track, optionally playable. `el` is the element to place in the card; it
 * is built once and keeps its state (and the audio keeps playing) across the card's redraws.
 */
export class Waveform {
  constructor(api, title) {
    this.api = api;
    this.title = title;
    this.ws = null;
    this.link = null;
    this.audioUrl = null;
    this.duration = 0;
    this.wave = h("div", { class: "waveform", role: "img", "aria-label": `Waveform of ${title}` });
    this.el = h("div", { class: "player" }, this.wave);
  }

  /** Draw from `link` (the waveform JSON); with `audioUrl`, also a player. */
  async show(link, audioUrl) {
    if (audioUrl && !this.audio) this.makePlayer();
    this.audioUrl = audioUrl || this.audioUrl;
    if (this.audio && !this.audio.getAttribute("src") && this.audioUrl) this.audio.src = this.audioUrl;
    if (link === this.link) return;
    this.link = link;
    const doc = await this.api.get(link);
    if (link !== this.link) return; // a newer waveform came meanwhile
    const { peaks, duration } = peaksFromJson(doc);
    this.duration = duration;
    this.ws?.destroy();
    this.wave.replaceChildren();
    const { wave, played } = colors(Boolean(this.audio));
    this.ws = WaveSurfer.create({
      container: this.wave,
      height: 64,
      peaks,
      duration,
      splitChannels: false,
      normalize: true,
      barWidth: 2,
      barGap: 1,
      barRadius: 1,
      cursorWidth: this.audio ? 2 : 0,
      cursorColor: played,
      interact: false, // a click seeks through this.seek (see makePlayer), which holds it until the audio can play
      cspNonce: PAGE.styleNonce, // its shadow DOM <style> runs under the page's CSP
      waveColor: wave,
      progressColor: played,
    });
    this.wave.dataset.drawn = "true";
    this.wave.dataset.points = String(doc.length);
    this.sync();
  }

  makePlayer() {
    this.audio = h("audio", { preload: "none", class: "visually-hidden" });
    const title = this.title;
    this.wave.setAttribute("role", "slider");
    this.wave.tabIndex = 0;
    this.wave.setAttribute("aria-label", `Position in ${title}`);
    this.wave.setAttribute("aria-valuemin", "0");
    this.wave.addEventListener("keydown", (e) => this.key(e));
    this.wave.addEventListener("click", (e) => {
      const box = this.wave.getBoundingClientRect();
      if (box.width > 0) this.seek(((e.clientX - box.left) / box.width) * this.total());
    });
    this.button = h("button", { type: "button", class: "play", "data-focus": "play", onclick: () => this.toggle() });
    this.time = h("span", { class: "play-time", "aria-hidden": "true" });
    for (const type of ["play", "pause", "ended", "timeupdate", "loadedmetadata", "seeked"]) {
      this.audio.addEventListener(type, () => this.sync());
    }
    // A position chosen before the audio could play is applied once it can (a seek made earlier,
    // before the browser knows the file, is lost or lands at the end).
    this.audio.addEventListener("canplay", () => this.applyWanted());
    this.audio.addEventListener("play", () => {
      if (playing && playing !== this) playing.stop();
      playing = this;
    });
    // A signed link that expired while the page stayed open: the card's newer link, if any.
    this.audio.addEventListener("error", () => {
      if (this.audioUrl && this.audio.getAttribute("src") !== this.audioUrl) this.audio.src = this.audioUrl;
    });
    this.el.classList.add("playable");
    this.el.prepend(this.button);
    this.el.append(this.time, this.audio);
    this.sync();
  }

  get playing() {
    return Boolean(this.audio && !this.audio.paused && !this.audio.ended);
  }

  toggle() {
    if (this.playing) {
      this.audio.pause();
      return;
    }
    // play() rejects when another play/pause interrupts it: nothing to report.
    this.audio.play().catch(() => null);
  }

  /** Move to `seconds` (clamped to the track); held in `wanted` until the audio can play. */
  seek(seconds) {
    const total = this.total();
    const t = Math.max(0, Number.isFinite(total) && total > 0 ? Math.min(total, seconds) : seconds);
    if (!Number.isFinite(t)) return;
    if (this.audio.readyState >= HAVE_FUTURE_DATA) {
      this.wanted = null;
      this.audio.currentTime = t;
    } else {
      this.wanted = t;
    }
    this.sync();
  }

  applyWanted() {
    if (this.wanted == null) return;
    const t = this.wanted;
    this.wanted = null;
    this.audio.currentTime = t;
  }

  /** The position shown: the one waiting to be applied, else the audio's. */
  now() {
    return this.wanted ?? (this.audio.currentTime || 0);
  }

  total() {
    return Number.isFinite(this.audio?.duration) && this.audio.duration > 0 ? this.audio.duration : this.duration;
  }

  key(e) {
    const now = this.now();
    const total = this.total();
    const moves = {
      ArrowRight: now + STEP_S, ArrowUp: now + STEP_S, ArrowLeft: now - STEP_S, ArrowDown: now - STEP_S,
      PageUp: now + total * PAGE_FRACTION, PageDown: now - total * PAGE_FRACTION, Home: 0, End: total,
    };
    if (e.key in moves) {
      e.preventDefault();
      this.seek(moves[e.key]);
    } else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      this.toggle();
    }
  }

  sync() {
    if (!this.audio) return;
    const now = this.now();
    const total = this.total();
    const verb = this.playing ? "Pause" : "Play";
    this.button.textContent = this.playing ? "❚❚" : "▶";
    this.button.setAttribute("aria-label", `${verb} ${this.title}`);
    this.button.dataset.playing = String(this.playing);
    this.wave.setAttribute("aria-valuemax", String(Math.round(total * 10) / 10));
    this.wave.setAttribute("aria-valuenow", String(Math.round(now * 10) / 10));
    this.wave.setAttribute("aria-valuetext", `${clock(now)} of ${clock(total)}`);
    this.time.textContent = `${clock(now)} / ${clock(total)}`;
    this.ws?.setTime(now); // wavesurfer only draws: the page's <audio> is never handed to it
  }

  rename(title) {
    this.title = title;
    if (!this.audio) this.wave.setAttribute("aria-label", `Waveform of ${title}`);
    else {
      this.wave.setAttribute("aria-label", `Position in ${title}`);
      this.sync();
    }
  }

  stop() {
    this.audio?.pause();
  }
}
