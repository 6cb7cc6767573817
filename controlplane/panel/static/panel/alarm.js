// Alarm detail: the replay appears when the server announces it (alarm.replay_ready), without reload.
import { on } from "./live.js";

const media = document.getElementById("alarm-media");
const alarmId = media ? Number(media.dataset.alarm) : null;

on("alarm.replay_ready", (event) => {
  if (event.data.id !== alarmId) return;
  const video = document.getElementById("replay");
  if (!video.getAttribute("src")) video.src = `/api/v1/alarms/${alarmId}/replay/`;
  document.getElementById("replay-status").textContent =
    `Replay: ${event.data.replay_status}${event.data.replay_seconds ? ` (${event.data.replay_seconds.toFixed(1)} s)` : ""}`;
});
