"""stationary_vehicle: a vehicle inside the zone that moves less than ``max_movement`` (normalised)
from where it stopped for ``threshold`` seconds. One event per stop: moving on ends the episode."""
from __future__ import annotations

from typing import Any

import numpy as np

from analytics.rules.base import Event, Rule
from analytics.rules.frame import Frame


class StationaryVehicle(Rule):
    slug = "stationary_vehicle"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stops: dict[int, tuple[float, float, float]] = {}  # track id -> (since, x, y) normalised
        self.stop_numbers: dict[int, int] = {}
        self.reported: set[int] = set()

    def step(self, t: float, frame: Frame) -> list[Event]:
        rows = self.inside(frame, self.relevant(frame))
        if not rows.size:
            return []
        points = frame.anchors(self.anchor)[rows] / self.zone.scale
        limit = float(self.params["max_movement"])
        events = []
        for row, tid, (x, y) in zip(rows.tolist(), frame.tracks.ids[rows].tolist(), points.tolist(), strict=True):
            stop = self.stops.get(tid)
            if stop is None or float(np.hypot(x - stop[1], y - stop[2])) > limit:
                self.stops[tid] = (t, x, y)  # (re)starts a stop where it is now
                self.stop_numbers[tid] = self.stop_numbers.get(tid, 0) + 1
                self.reported.discard(tid)
                continue
            still = t - stop[0]
            if tid not in self.reported and still >= float(self.params["threshold"]) and self.active(t) and self.cooled_down(t):
                self.reported.add(tid)
                events.append(self.event(t, frame.tracks.track(row), self.stop_numbers[tid], stop[0], stationary_for=round(still, 2)))
        return events

    def forget(self, live: set[int]) -> None:
        self.stops = {k: v for k, v in self.stops.items() if k in live}
        self.stop_numbers = {k: v for k, v in self.stop_numbers.items() if k in live}
        self.reported &= live

    def state(self) -> dict[str, Any]:
        return {**super().state(), "stops": {str(k): list(v) for k, v in self.stops.items()},
                "stop_numbers": {str(k): v for k, v in self.stop_numbers.items()}, "reported": sorted(self.reported)}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.stops = {int(k): (v[0], v[1], v[2]) for k, v in state.get("stops", {}).items()}
        self.stop_numbers = {int(k): v for k, v in state.get("stop_numbers", {}).items()}
        self.reported = set(state.get("reported", []))
