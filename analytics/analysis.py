"""One camera's analysis: masks -> tracker -> rules, fed segment after segment (DESIGN §5, §6).

``CameraAnalyzer`` is pure: detections in, events out, with its whole state (tracker, rules)
as a JSON-able dict so analysis continues across segments and across workers.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from typing import Any

import numpy as np

from analytics.config import CameraConfig, ZoneKind
from analytics.detectors import Detections
from analytics.detectors.store import SegmentDetections
from analytics.rules import Event, Rule, build
from analytics.tracking import ByteTracker
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
        self.tracker = ByteTracker()
        self.history: dict[int, deque[tuple[float, tuple[float, float, float, float]]]] = defaultdict(lambda: deque(maxlen=HISTORY))
        if state:
            self.restore(state)

    def reset_tracking(self) -> None:
        """After a gap: tracks cannot be continued (ids keep increasing, so no alarm key repeats)."""
        self.tracker.reset()
        self.history.clear()

    def feed(self, start: float, detections: SegmentDetections) -> list[Event]:
        """Events of one segment whose first frame is at epoch seconds ``start``."""
        events: list[Event] = []
        for offset, dets in zip(detections.times, detections.detections, strict=True):
            t = start + float(offset)
            keep = unmasked(dets.boxes, self.masks)
            tracks = self.tracker.update(Detections(dets.boxes[keep], dets.scores[keep], dets.classes[keep]), t)
            for tr in tracks:
                self.history[tr.id].append((t, tr.box))
            for rule in self.rules.values():
                for event in rule.update(t, tracks):
                    context = list(self.history.get(event.track_id, [])) if event.track_id is not None else []
                    events.append(Event(**{**event.__dict__, "details": {**event.details, "track": [
                        {"t": round(ts, 3), "box": [round(float(v), 1) for v in box]} for ts, box in context]}}))
        return events

    def state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.state(),
            "rules": {str(bid): {"fingerprint": binding_fingerprint(self.camera, bid), "state": rule.state()}
                      for bid, rule in self.rules.items()},
            "frame_size": list(self.frame_size),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if list(self.frame_size) != state.get("frame_size"):
            return  # a new resolution: boxes of old tracks mean nothing now
        self.tracker = ByteTracker.restore(state["tracker"])
        for bid, saved in state.get("rules", {}).items():
            rule = self.rules.get(int(bid))
            if rule is not None and saved["fingerprint"] == binding_fingerprint(self.camera, int(bid)):
                rule.restore(saved["state"])


def event_box(event: Event) -> list[float] | None:
    return [float(v) for v in np.round(event.box, 1)] if event.box is not None else None
