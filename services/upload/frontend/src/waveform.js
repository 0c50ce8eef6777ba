// Draws a track's waveform from our own audiowaveform-style JSON (version 2) with wavesurfer.js.
import WaveSurfer from "wavesurfer.js";
import { PAGE } from "./dom.js";

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

export async function drawWaveform(container, api, link) {
  const doc = await api.get(link);
  const { peaks, duration } = peaksFromJson(doc);
  container.replaceChildren();
  const style = getComputedStyle(document.documentElement);
  const ws = WaveSurfer.create({
    container,
    height: 64,
    peaks,
    duration,
    splitChannels: false,
    normalize: true,
    barWidth: 2,
    barGap: 1,
    barRadius: 1,
    cursorWidth: 0,
    interact: false,
    cspNonce: PAGE.styleNonce, // its shadow DOM <style> runs under the page's CSP
    waveColor: style.getPropertyValue("--wave").trim() || "#6d4aff",
    progressColor: style.getPropertyValue("--wave").trim() || "#6d4aff",
  });
  container.dataset.drawn = "true";
  container.dataset.points = String(doc.length);
  return ws;
}
