// Alarm feed: on the first page, a new alarm matching the filters is put on top, highlighted.
import { on } from "./live.js";

function matches(data) {
  const params = new URLSearchParams(location.search);
  const want = (name, value) => !params.get(name) || params.get(name) === String(value);
  return want("camera", data.camera.id) && want("algorithm", data.algorithm)
    && want("severity", data.severity) && want("status", data.status) && !params.get("until") && !params.get("site");
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

on("alarm.created", (event) => {
  const results = document.getElementById("alarm-results");
  const rows = document.getElementById("alarm-rows");
  const data = event.data;
  if (!results || !rows || !results.dataset.live || !matches(data)) return;
  if (rows.querySelector(`tr[data-alarm="${data.id}"]`)) return;
  rows.querySelector("tr.empty")?.remove();
  const tr = document.createElement("tr");
  tr.dataset.alarm = String(data.id);
  tr.className = `sev-${data.severity} fresh`;
  const link = document.createElement("a");
  link.href = `${location.pathname}${data.id}/`;
  link.textContent = String(data.id);
  const first = document.createElement("td");
  first.append(link);
  const time = new Date(data.event_time);
  tr.append(first, cell(time.toISOString().replace("T", " ").slice(0, 19)), cell(data.camera.name), cell(data.zone.name),
    cell(data.algorithm), cell(data.severity), cell(data.status), cell(data.replay_status));
  tr.children[6].className = "status";
  tr.children[7].className = "replay";
  rows.prepend(tr);
});

on("alarm.replay_ready", (event) => {
  const row = document.querySelector(`#alarm-rows tr[data-alarm="${event.data.id}"] td.replay`);
  if (row) row.textContent = event.data.replay_status;
});
