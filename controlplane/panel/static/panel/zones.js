// Zone editor: a camera's zones drawn in SVG over its live picture, saved through the REST API
// (/api/v1/zones/, /api/v1/bindings/) so that the API's validation and edit-lock check are the only
// ones. Points are normalised to [0, 1] of the picture, (0, 0) top-left, as controlplane.zones stores them.
const root = document.getElementById("zone-editor");
const camera = Number(root.dataset.camera);
const csrf = root.dataset.csrf;
const lockUrl = root.dataset.lockUrl;
const svg = document.getElementById("overlay");
const shapes = document.getElementById("shapes");
const picture = document.getElementById("picture");
const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

let editable = root.dataset.held === "true";
let zones = [];  // {id, name, kind, points, direction, dirty, deleted}
let selected = null;
let drawing = false;
let drag = null;  // {zone, vertex (index) or null for a move, last [x, y]}
let algorithms = [];

// --- the API -------------------------------------------------------------------------------------
async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => ({ detail: response.statusText }));
  return { ok: response.ok, status: response.status, data };
}

async function lock(action) {
  const form = new FormData();
  form.set("action", action);
  const response = await fetch(lockUrl, { method: "POST", body: form, headers: { "X-CSRFToken": csrf },
                                          credentials: "same-origin", keepalive: action === "release" });
  return response.ok ? response.json() : { held: false, lock: null };
}

// --- the lock ------------------------------------------------------------------------------------
function hhmm(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function showLock(held, owner, until) {
  editable = held;
  const state = $("lock-state");
  state.className = `message ${held ? "success" : "warning"}`;
  state.dataset.held = String(held);
  state.textContent = held ? `You are editing these zones (lock renewed while this page is open, until ${hhmm(until)}).`
    : owner ? `Being edited by ${owner} until ${hhmm(until)}: read-only.` : "Not editing: read-only.";
  if ($("take-over")) $("take-over").hidden = held;
  for (const el of root.querySelectorAll("[data-new], #save, #delete-zone, #bind")) el.disabled = !held;
  $("zone-fields").disabled = !held || !selected;
  $("finish").disabled = !held || !drawing;
  render();
}

async function renew() {
  if (!editable) return;
  const answer = await lock("renew");
  showLock(answer.held, answer.lock?.username, answer.lock?.expires_at);
}

// --- geometry ------------------------------------------------------------------------------------
function at(event) {
  const box = svg.getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function round(points) {
  return points.map(([x, y]) => [Math.round(x * 1e5) / 1e5, Math.round(y * 1e5) / 1e5]);
}

// --- drawing -------------------------------------------------------------------------------------
function el(name, attrs, parent = shapes) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent.appendChild(node);
  return node;
}

function render() {
  const w = svg.clientWidth || 1, h = svg.clientHeight || 1;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  shapes.replaceChildren();
  const px = ([x, y]) => [x * w, y * h];
  for (const zone of zones) {
    if (zone.deleted || !zone.points.length) continue;
    const classes = `zone ${zone.kind}${zone === selected ? " selected" : ""}`;
    const pts = zone.points.map(px);
    let shape;
    if (zone.kind === "line" || pts.length < 3) {
      const [a, b = a] = pts;
      shape = el("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: classes,
                           "marker-end": zone.kind === "line" ? "url(#arrow)" : "" });
      if (zone.kind === "line" && pts.length === 2 && zone.direction !== "any") crossing(a, b, zone.direction);
    } else {
      shape = el("polygon", { points: pts.map((p) => p.join(",")).join(" "), class: classes });
    }
    shape.dataset.zone = String(zones.indexOf(zone));
    if (zone === selected && editable) {
      pts.forEach((p, i) => {
        const handle = el("circle", { cx: p[0], cy: p[1], r: 6, class: "handle" });
        handle.dataset.vertex = String(i);
      });
    }
  }
  renderList();
}

// The counted crossing of a line: an arrow across its middle, from the side it is crossed from.
// Seen from the first point towards the second, "left" is the side of the normal (dy, -dx).
function crossing(a, b, direction) {
  const [mx, my] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const length = Math.hypot(dx, dy) || 1;
  const sign = direction === "left_to_right" ? 1 : -1;
  const [nx, ny] = [(dy / length) * 20 * sign, (-dx / length) * 20 * sign];
  el("line", { x1: mx + nx, y1: my + ny, x2: mx - nx, y2: my - ny, class: "crossing", "marker-end": "url(#arrow)" });
}

function renderList() {
  const list = $("zone-list");
  list.replaceChildren();
  for (const zone of zones) {
    if (zone.deleted) continue;
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#";
    link.textContent = `${zone.name || "(unnamed)"} · ${zone.kind}${zone.dirty ? " *" : ""}`;
    link.addEventListener("click", (e) => { e.preventDefault(); select(zone); });
    li.setAttribute("aria-selected", String(zone === selected));
    li.appendChild(link);
    list.appendChild(li);
  }
}

function select(zone) {
  selected = zone;
  $("zone-fields").disabled = !editable || !zone;
  if (zone) {
    $("zone-name").value = zone.name;
    $("zone-kind").value = zone.kind;
    $("zone-direction").value = zone.direction;
  }
  render();
  loadBindings();
}

function startNew(kind) {
  finish();
  const taken = new Set(zones.map((z) => z.name));
  let n = zones.length + 1;
  while (taken.has(`${kind} ${n}`)) n += 1;
  const zone = { id: null, name: `${kind} ${n}`, kind, points: [], direction: "any", dirty: true, deleted: false };
  zones.push(zone);
  drawing = true;
  $("finish").disabled = false;
  $("hint").textContent = kind === "line" ? "Click the line's two points (first to second)."
    : "Click each corner on the picture, then Finish shape (or press Enter).";
  select(zone);
}

function finish() {
  drawing = false;
  $("finish").disabled = true;
  $("hint").textContent = "Drag a corner to reshape, drag the shape to move it.";
}

// --- pointer -------------------------------------------------------------------------------------
svg.addEventListener("pointerdown", (event) => {
  if (!editable) return;
  const target = event.target;
  if (drawing && selected) {
    if (target.dataset.vertex !== undefined) return;
    selected.points.push(at(event));
    selected.dirty = true;
    if (selected.kind === "line" && selected.points.length === 2) finish();
    render();
    return;
  }
  if (target.dataset.vertex !== undefined) {
    drag = { zone: selected, vertex: Number(target.dataset.vertex), last: at(event) };
  } else if (target.dataset.zone !== undefined) {
    const zone = zones[Number(target.dataset.zone)];
    if (zone !== selected) select(zone);
    drag = { zone, vertex: null, last: at(event) };
  } else {
    return;
  }
  svg.setPointerCapture(event.pointerId);
  event.preventDefault();
});

svg.addEventListener("pointermove", (event) => {
  if (!drag) return;
  const p = at(event);
  if (drag.vertex !== null) {
    drag.zone.points[drag.vertex] = p;
  } else {
    const [dx, dy] = [p[0] - drag.last[0], p[1] - drag.last[1]];
    const xs = drag.zone.points.map((q) => q[0]), ys = drag.zone.points.map((q) => q[1]);
    const mx = Math.min(Math.max(dx, -Math.min(...xs)), 1 - Math.max(...xs));  // the shape stays on the picture
    const my = Math.min(Math.max(dy, -Math.min(...ys)), 1 - Math.max(...ys));
    drag.zone.points = drag.zone.points.map(([x, y]) => [x + mx, y + my]);
  }
  drag.last = p;
  drag.zone.dirty = true;
  render();
});

for (const end of ["pointerup", "pointercancel"]) svg.addEventListener(end, () => { drag = null; });
document.addEventListener("keydown", (e) => { if (e.key === "Enter" && drawing) { finish(); render(); } });
$("finish").addEventListener("click", () => { finish(); render(); });
for (const button of root.querySelectorAll("[data-new]")) button.addEventListener("click", () => startNew(button.dataset.new));

$("zone-name").addEventListener("input", (e) => { if (selected) { selected.name = e.target.value; selected.dirty = true; renderList(); } });
$("zone-kind").addEventListener("change", (e) => { if (selected) { selected.kind = e.target.value; selected.dirty = true; render(); } });
$("zone-direction").addEventListener("change", (e) => { if (selected) { selected.direction = e.target.value; selected.dirty = true; render(); } });
$("delete-zone").addEventListener("click", () => {
  if (!selected) return;
  selected.deleted = true;
  finish();
  select(null);
});

// --- saving --------------------------------------------------------------------------------------
function clearErrors() {
  for (const span of root.querySelectorAll(".error")) { span.hidden = true; span.textContent = ""; }
  $("save-state").textContent = "";
}

function showErrors(data) {
  for (const [field, messages] of Object.entries(data || {})) {
    const span = root.querySelector(`.error[data-for="${field}"]`) || root.querySelector('.error[data-for="non_field_errors"]');
    const text = Array.isArray(messages) ? messages.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")
      : typeof messages === "object" ? JSON.stringify(messages) : String(messages);
    span.textContent = `${span.textContent} ${span.dataset.for === field ? "" : `${field}: `}${text}`.trim();
    span.hidden = false;
  }
}

// Zones one by one in list order: the first refusal stops the save and is shown at its field.
async function save() {
  clearErrors();
  finish();
  for (const zone of zones) {
    let answer = null;
    const body = { camera, name: zone.name, kind: zone.kind, points: round(zone.points), direction: zone.direction };
    if (zone.deleted) {
      if (zone.id) answer = await api("DELETE", `/api/v1/zones/${zone.id}/`);
    } else if (zone.id === null) {
      answer = await api("POST", "/api/v1/zones/", body);
    } else if (zone.dirty) {
      answer = await api("PATCH", `/api/v1/zones/${zone.id}/`, body);
    }
    if (answer && !answer.ok) {
      if (!zone.deleted) select(zone);
      showErrors(answer.data);
      $("save-state").textContent = "Not saved.";
      return;
    }
    if (answer && answer.data) Object.assign(zone, { id: answer.data.id, points: answer.data.points, dirty: false });
    else zone.dirty = false;
    if (!zone.deleted && !(await saveBindings(zone))) return;
  }
  zones = zones.filter((z) => !z.deleted);
  await lock("release");
  showLock(false, null, 0);
  $("lock-state").textContent = "Saved; the lock is released. Reload the page to edit again.";
  $("save-state").textContent = "Saved.";
}
$("save").addEventListener("click", save);

// A zone's binding changes (added, removed in the form) after the zone itself; false on a refusal.
async function saveBindings(zone) {
  for (const id of zone.removedBindings || []) {
    const answer = await api("DELETE", `/api/v1/bindings/${id}/`);
    if (!answer.ok && answer.status !== 404) return refused(zone, answer);
  }
  zone.removedBindings = [];
  while ((zone.newBindings || []).length) {
    const answer = await api("POST", "/api/v1/bindings/", { ...zone.newBindings[0], zone: zone.id });
    if (!answer.ok) return refused(zone, answer);
    zone.newBindings.shift();
  }
  return true;
}

function refused(zone, answer) {
  select(zone);
  const text = Object.entries(answer.data || {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`);
  showErrors({ binding: text });
  $("save-state").textContent = "Not saved.";
  return false;
}

// --- bindings: a form generated from the algorithm's params JSON Schema ---------------------------------
function paramInput(name, schema) {
  const label = document.createElement("label");
  label.textContent = `${schema.title || name}${schema.description ? ` (${schema.description})` : ""}`;
  let input;
  if (Array.isArray(schema.enum)) {
    input = document.createElement("select");
    for (const value of schema.enum) input.add(new Option(String(value), JSON.stringify(value)));
  } else {
    input = document.createElement("input");
    if (schema.type === "boolean") input.type = "checkbox";
    else if (schema.type === "number" || schema.type === "integer") {
      input.type = "number";
      input.step = schema.type === "integer" ? "1" : "any";
      if (schema.minimum !== undefined) input.min = schema.minimum;
      if (schema.maximum !== undefined) input.max = schema.maximum;
    }
  }
  input.name = name;
  input.dataset.type = schema.enum ? "enum" : schema.type || "string";
  if (schema.default !== undefined) {
    if (input.type === "checkbox") input.checked = Boolean(schema.default);
    else input.value = schema.enum ? JSON.stringify(schema.default) : String(schema.default);
  }
  label.appendChild(input);
  return label;
}

function renderParams() {
  const algorithm = algorithms.find((a) => a.slug === $("binding-algorithm").value);
  const box = $("binding-params");
  box.replaceChildren();
  for (const [name, schema] of Object.entries(algorithm?.params_schema?.properties || {})) box.appendChild(paramInput(name, schema));
}

function readParams() {
  const params = {};
  for (const input of $("binding-params").querySelectorAll("[name]")) {
    const type = input.dataset.type;
    if (type === "boolean") params[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (type === "enum") params[input.name] = JSON.parse(input.value);
    else if (type === "number" || type === "integer") params[input.name] = Number(input.value);
    else params[input.name] = input.value;
  }
  return params;
}

async function loadBindings() {
  const section = $("bindings");
  section.hidden = !selected;
  if (!selected) return;
  const zone = selected;
  const select = $("binding-algorithm");
  const usable = algorithms.filter((a) => !a.zone_kinds.length || a.zone_kinds.includes(zone.kind));
  if ([...select.options].map((o) => o.value).join() !== usable.map((a) => a.slug).join()) {
    select.replaceChildren(...usable.map((a) => new Option(a.name, a.slug)));
    renderParams();
  }
  const saved = zone.id === null ? [] : (await api("GET", `/api/v1/bindings/?zone=${zone.id}&limit=100`)).data?.results || [];
  if (zone !== selected) return;
  const list = $("binding-list");
  list.replaceChildren();
  const rows = [...saved.filter((b) => !(zone.removedBindings || []).includes(b.id)), ...(zone.newBindings || [])];
  for (const binding of rows) {
    const li = document.createElement("li");
    li.textContent = `${binding.algorithm} · ${binding.severity} · ${JSON.stringify(binding.params)}${binding.id ? "" : " (unsaved)"} `;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.disabled = !editable;
    remove.addEventListener("click", () => {
      if (binding.id) zone.removedBindings = [...(zone.removedBindings || []), binding.id];
      else zone.newBindings = zone.newBindings.filter((b) => b !== binding);
      loadBindings();
    });
    li.appendChild(remove);
    list.appendChild(li);
  }
}

$("binding-algorithm").addEventListener("change", renderParams);
// Added to the zone's pending bindings; the API checks them (params against the schema) on Save.
$("binding-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearErrors();
  let schedule;
  try { schedule = JSON.parse($("binding-schedule").value); } catch { showErrors({ binding: ["schedule: not valid JSON"] }); return; }
  const binding = { algorithm: $("binding-algorithm").value, params: readParams(), severity: $("binding-severity").value, schedule };
  selected.newBindings = [...(selected.newBindings || []), binding];
  loadBindings();
});

// --- start -----------------------------------------------------------------------------------------
async function start() {
  const [found, catalog] = await Promise.all([
    api("GET", `/api/v1/zones/?camera=${camera}&limit=100`), api("GET", "/api/v1/algorithms/?limit=100"),
  ]);
  algorithms = catalog.data?.results || [];
  zones = (found.data?.results || []).map((z) => ({ ...z, dirty: false, deleted: false }));
  showLock(editable, root.dataset.lockUser, Number(root.dataset.lockUntil));
  root.dataset.ready = "true";
}

picture.addEventListener("load", render);
picture.addEventListener("error", () => picture.classList.add("nopicture"));
window.addEventListener("resize", render);
$("take-over")?.addEventListener("click", async () => {
  const answer = await lock("take_over");
  showLock(answer.held, answer.lock?.username, answer.lock?.expires_at);
  select(null);
});
// Left (closed, navigated away): give the lock back at once rather than after its expiry.
window.addEventListener("pagehide", () => { if (editable) lock("release"); });
setInterval(renew, Number(root.dataset.renewSeconds || 20) * 1000);
start();
