// Camera wall: live status of the cameras on this page, their pictures refreshed, segment ages ticking.
import { on, subscribe } from "./live.js";

const PICTURE_SECONDS = 10;  // the capture loop keeps a keyframe every few seconds (PANOPTES_SNAPSHOT_SECONDS)
const tiles = new Map([...document.querySelectorAll(".tile")].map((t) => [Number(t.dataset.camera), t]));

function age(iso) {
  if (!iso) return "—";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function tick() {
  for (const dd of document.querySelectorAll('[data-field="last_segment_at"]')) dd.textContent = age(dd.dataset.at);
}

on("camera.status", (event) => {
  const tile = tiles.get(event.data.camera.id);
  if (!tile) return;
  const data = event.data;
  tile.dataset.state = data.state;
  tile.querySelector('[data-field="state"]').textContent = data.state + (data.last_error ? ` (${data.last_error})` : "");
  tile.querySelector('[data-field="worker"]').textContent = data.worker || "—";
  tile.querySelector('[data-field="input_fps"]').textContent = data.input_fps || "—";
  tile.querySelector('[data-field="last_segment_at"]').dataset.at = data.last_segment_at || "";
  tile.classList.add("updated");
  setTimeout(() => tile.classList.remove("updated"), 800);
  tick();
});

on("alarm.created", (event) => {
  const tile = tiles.get(event.data.camera.id);
  if (!tile) return;
  const link = tile.querySelector('[data-field="open_alarms"] a');
  link.textContent = String(Number(link.textContent) + 1);
  tile.classList.add("alarmed");
});

setInterval(() => {
  for (const img of document.querySelectorAll(".tile img")) {
    const url = new URL(img.src, location.href);
    url.searchParams.set("t", String(Date.now()));
    img.classList.remove("nopicture");
    img.src = url.toString();
  }
}, PICTURE_SECONDS * 1000);
setInterval(tick, 1000);
tick();
subscribe([...tiles.keys()]);
