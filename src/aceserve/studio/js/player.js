// A player for one output: the browser's audio controls, a waveform drawn from the decoded file (click
// or arrow keys on it to seek), and a download link.

import { element } from "./form.js";

const BARS = 160;

async function peaks(url) {
  const response = await fetch(url, { referrerPolicy: "no-referrer" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const context = new (window.AudioContext || window.webkitAudioContext)();
  try {
    const audio = await context.decodeAudioData(await response.arrayBuffer());
    const channel = audio.getChannelData(0);
    const size = Math.max(1, Math.floor(channel.length / BARS));
    const values = [];
    for (let bar = 0; bar < BARS; bar++) {
      let peak = 0;
      for (let i = bar * size; i < Math.min(channel.length, (bar + 1) * size); i++) {
        peak = Math.max(peak, Math.abs(channel[i]));
      }
      values.push(peak);
    }
    return values;
  } finally {
    context.close();
  }
}

function draw(canvas, values, played) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (!width || !height) return;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const max = Math.max(0.0001, ...values);
  const step = width / values.length;
  values.forEach((value, index) => {
    const bar = Math.max(1, (value / max) * (height - 4));
    context.fillStyle = index / values.length <= played ? "#d97706" : "#9ca3af";
    context.fillRect(index * step, (height - bar) / 2, Math.max(1, step - ratio), bar);
  });
}

export function player(url, { title }) {
  const audio = element("audio", { controls: true, preload: "metadata", src: url });
  const canvas = element("canvas", {
    class: "waveform",
    role: "slider",
    tabindex: "0",
    "aria-label": `Waveform of ${title}: seek`,
    "aria-valuemin": "0",
    "aria-valuemax": "100",
    "aria-valuenow": "0",
  });
  const download = element("a", { href: url, download: "", class: "button", text: "Download" });
  let values = null;
  const redraw = () => {
    if (!values) return;
    const played = audio.duration ? audio.currentTime / audio.duration : 0;
    canvas.setAttribute("aria-valuenow", String(Math.round(played * 100)));
    draw(canvas, values, played);
  };
  audio.addEventListener("timeupdate", redraw);
  canvas.addEventListener("click", (event) => {
    if (!audio.duration) return;
    const box = canvas.getBoundingClientRect();
    audio.currentTime = ((event.clientX - box.left) / box.width) * audio.duration;
    redraw();
  });
  canvas.addEventListener("keydown", (event) => {
    if (!audio.duration) return;
    const delta = { ArrowLeft: -5, ArrowRight: 5, Home: -Infinity, End: Infinity }[event.key];
    if (delta === undefined) return;
    event.preventDefault();
    audio.currentTime = Math.min(audio.duration, Math.max(0, audio.currentTime + delta));
    redraw();
  });
  const holder = element("div", { class: "player" }, canvas, audio, download);
  peaks(url)
    .then((found) => {
      values = found;
      holder.dataset.waveform = "drawn";
      requestAnimationFrame(redraw);
    })
    .catch(() => {
      holder.dataset.waveform = "unavailable";
      canvas.hidden = true;
    });
  new ResizeObserver(redraw).observe(canvas);
  return holder;
}
