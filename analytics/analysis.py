"""One camera's analysis: masks -> tracker -> rules, fed segment after segment (DESIGN §5, §6).

``CameraAnalyzer`` is pure: detections in, events out, with its whole state (tracker, rules)
as a JSON-able dict so analysis continues across segments and across workers.
"""
from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.config import CameraConfig, ZoneKind
from analytics.detectors import Detections
from analytics.detectors.store import SegmentDetections
from analytics.rules import Event, Rule, build
from analytics.rules.frame import Frame
from analytics.tracking import ByteTracker, Tracks
from analytics.zones import ZoneShape, unmasked

HISTORY = 15  # boxes kept per track for an alarm's context (3 s at 5 fps)


def binding_fingerprint(camera: CameraConfig, binding_id: int) -> str:
    """Rule state is kept across a config change only if its binding and zone did not change."""
    binding = next(b for b in camera.bindings if b.id == binding_id)
    zone = next(z for z in camera.zones if z.id == binding.zone_id)
    data = {"binding": binding.model_dump(mode="json"), "zone": zone.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class CameraAnalyzer:
    def __init__(self, camera: CameraConfig, class_names: list[str], frame_size: tuple[int, int],
                 state: dict[str, Any] | None = None) -> None:
        self.camera, self.frame_size = camera, frame_size
        zones = {z.id: ZoneShape(z, frame_size) for z in camera.zones if z.enabled}
        self.masks = [shape for shape in zones.values() if shape.zone.kind == ZoneKind.MASK]
        self.rules: dict[int, Rule] = {
            b.id: build(b, zones[b.zone_id], class_names) for b in camera.bindings if b.enabled and b.zone_id in zones
        }
        self.fingerprints = {bid: binding_fingerprint(camera, bid) for bid in self.rules}
        self.areas = list({id(rule.zone): rule.zone for rule in self.rules.values()}.values())  # tested together per frame
        self.tracker = ByteTracker()
        self.history = History()
        if state:
            self.restore(state)

    def reset_tracking(self) -> None:
        """After a gap: tracks cannot be continued (ids keep increasing, so no alarm key repeats)."""
        self.tracker.reset()
        self.history.clear()
        self.forget_lost_tracks()

    def feed(self, start: float, detections: SegmentDetections) -> list[Event]:
        """Events of one segment whose first frame is at epoch seconds ``start``.

        Per frame: mask zones drop detections, the tracker follows the rest, and every rule steps
        on one shared ``Frame`` (anchor points and zone membership computed once for all rules).
        """
        events: list[Event] = []
        keeps = unmasked_frames(detections.detections, self.masks)
        for offset, dets, keep in zip(detections.times, detections.detections, keeps, strict=True):
            t = start + float(offset)
            tracks = self.tracker.step(Detections(dets.boxes[keep], dets.scores[keep], dets.classes[keep]), t)
            self.history.append(t, tracks, HISTORY * self.tracker.lost_seconds)
            frame = Frame(tracks, self.areas)
            for rule in self.rules.values():
                for event in rule.step(t, frame):
                    context = self.history.boxes(event.track_id) if event.track_id is not None else []
                    events.append(Event(**{**event.__dict__, "details": {**event.details, "track": [
                        {"t": round(ts, 3), "box": [round(float(v), 1) for v in box]} for ts, box in context]}}))
        self.forget_lost_tracks()
        return events

    def forget_lost_tracks(self) -> None:
        """Rules drop what they hold about tracks the tracker has dropped, so a camera's saved state
        stays as large as its live tracks, not its lifetime's (140 KiB after 28 segments of 200
        objects before this; bench/analysis_cost.py)."""
        live = self.tracker.live_ids()
        for rule in self.rules.values():
            rule.forget(live)

    def state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.state(),
            "rules": {str(bid): {"fingerprint": self.fingerprints[bid], "state": rule.state()}
                      for bid, rule in self.rules.items()},
            "frame_size": list(self.frame_size),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if list(self.frame_size) != state.get("frame_size"):
            return  # a new resolution: boxes of old tracks mean nothing now
        self.tracker = ByteTracker.restore(state["tracker"])
        for bid, saved in state.get("rules", {}).items():
            rule = self.rules.get(int(bid))
            if rule is not None and saved["fingerprint"] == self.fingerprints[int(bid)]:
                rule.restore(saved["state"])


def unmasked_frames(frames: Sequence[Detections], masks: list[ZoneShape]) -> list[npt.NDArray[np.bool_]]:
    """``unmasked`` of every frame of a segment, in one shapely call for the segment, not one a frame."""
    counts = [len(dets.boxes) for dets in frames]
    if not masks or not frames:
        return [np.ones(n, np.bool_) for n in counts]
    keep = unmasked(np.concatenate([np.asarray(dets.boxes, np.float32).reshape(-1, 4) for dets in frames]), masks)
    return np.split(keep, np.cumsum(counts)[:-1])


class History:
    """The latest frames' tracks, for an alarm's context: the last ``HISTORY`` boxes of its track.

    Whole frames are kept rather than a deque per track: appending costs the same at 10 or 200
    objects, and only the few tracks that raise an event are looked up.
    """

    def __init__(self) -> None:
        self.frames: deque[tuple[float, Tracks]] = deque()

    def clear(self) -> None:
        self.frames.clear()

    def append(self, t: float, tracks: Tracks, keep_seconds: float) -> None:
        """Add a frame, dropping those older than ``keep_seconds``: ``HISTORY * lost_seconds`` keeps
        every track's last HISTORY matches, since the tracker drops a track unmatched for longer
        than lost_seconds (the event's track is in the latest frame)."""
        self.frames.append((t, tracks))
        while self.frames[0][0] < t - keep_seconds:
            self.frames.popleft()

    def boxes(self, track_id: int) -> list[tuple[float, tuple[float, float, float, float]]]:
        """(time, box) of the track's last HISTORY matches, oldest first."""
        found: list[tuple[float, tuple[float, float, float, float]]] = []
        for t, tracks in reversed(self.frames):
            rows = np.flatnonzero(tracks.ids == track_id)
            if rows.size:
                b = tracks.boxes[rows[0]].tolist()
                found.append((t, (b[0], b[1], b[2], b[3])))
                if len(found) == HISTORY:
                    break
        return found[::-1]


def event_box(event: Event) -> list[float] | None:
    return [float(v) for v in np.round(event.box, 1)] if event.box is not None else None
