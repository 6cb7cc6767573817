"""stationary_vehicle: a vehicle inside the zone that moves less than ``max_movement`` (normalised)
from where it stopped for ``threshold`` seconds. One event per stop: moving on ends the episode."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.rules.base import Event, Rule
from analytics.tracking import Track
from analytics.zones import anchor_points


class StationaryVehicle(Rule):
    slug = "stationary_vehicle"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stops: dict[int, tuple[float, float, float]] = {}  # track id -> (since, x, y) normalised
        self.stop_numbers: dict[int, int] = {}
        self.reported: set[int] = set()

    def update(self, t: float, tracks: Sequence[Track]) -> list[Event]:
        inside = self.inside(self.relevant(tracks))
        if not inside:
            return []
        points = anchor_points([tr.box for tr in inside], self.anchor) / self.zone.scale
        limit = float(self.params["max_movement"])
        events = []
        for tr, (x, y) in zip(inside, points, strict=True):
            stop = self.stops.get(tr.id)
            if stop is None or float(np.hypot(x - stop[1], y - stop[2])) > limit:
                self.stops[tr.id] = (t, float(x), float(y))  # (re)starts a stop where it is now
                self.stop_numbers[tr.id] = self.stop_numbers.get(tr.id, 0) + 1
                self.reported.discard(tr.id)
                continue
            still = t - stop[0]
            if tr.id not in self.reported and still >= float(self.params["threshold"]) and self.active(t) and self.cooled_down(t):
                self.reported.add(tr.id)
                events.append(self.event(t, tr, self.stop_numbers[tr.id], stop[0], stationary_for=round(still, 2)))
        return events

    def state(self) -> dict[str, Any]:
        return {**super().state(), "stops": {str(k): list(v) for k, v in self.stops.items()},
                "stop_numbers": {str(k): v for k, v in self.stop_numbers.items()}, "reported": sorted(self.reported)}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.stops = {int(k): (v[0], v[1], v[2]) for k, v in state.get("stops", {}).items()}
        self.stop_numbers = {int(k): v for k, v in state.get("stop_numbers", {}).items()}
        self.reported = set(state.get("reported", []))
