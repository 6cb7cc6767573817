// The panel's one WebSocket (/ws/v1/events/, session auth): reconnects by itself, and hands each
// server message to the page as a DOM event "panoptes:<type>" (e.g. panoptes:alarm.created).
const listeners = new Set();
let ws = null;
let retry = 500;
let subscription = null;

function stateLabel(text) {
  const el = document.getElementById("socket-state");
  if (el) { el.textContent = text; el.dataset.state = text; }
}

function open() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws/v1/events/`);
  ws.addEventListener("message", (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (msg.type === "hello") {
      retry = 500;
      stateLabel("live");
      if (subscription) send({ type: "subscribe", cameras: subscription });
    }
    document.dispatchEvent(new CustomEvent(`panoptes:${msg.type}`, { detail: msg }));
  });
  ws.addEventListener("close", () => {
    stateLabel("offline");
    setTimeout(open, retry);  // a restarted server: resubscribe on its hello
    retry = Math.min(retry * 2, 5000);
  });
}

export function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

// Ask for the status of these cameras only (the wall's page); sent again after a reconnect.
export function subscribe(cameraIds) {
  subscription = cameraIds;
  send({ type: "subscribe", cameras: cameraIds });
}

export function on(type, handler) {
  document.addEventListener(`panoptes:${type}`, (e) => handler(e.detail));
}

// A new alarm anywhere in the user's scope: count it on the navigation's badge.
on("alarm.created", () => {
  const badge = document.getElementById("live-badge");
  if (!badge) return;
  badge.hidden = false;
  badge.textContent = String(Number(badge.textContent) + 1);
});

open();
