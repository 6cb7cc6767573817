"""line_crossing: a confirmed track crosses the line in the zone's direction; crossings counted.

Steps per track:
1. its anchor's signed distance from the line (normalised units) and position along it;
2. the side it is on counts only once it is at least ``min_distance`` away (hysteresis), so jitter
   and box flicker around the line never count;
3. a change of counted side, at a position within the line's extent, is one crossing; it is an
   event if it goes the zone's way (``any``, ``left_to_right``, ``right_to_left``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from analytics.config import LineDirection
from analytics.rules.base import Event, Rule
from analytics.rules.frame import Frame
from analytics.zones import crossing_counts


class LineCrossing(Rule):
    slug = "line_crossing"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sides: dict[int, float] = {}  # track id -> -1.0 (left) or 1.0 (right), once counted
        self.crossings: dict[int, int] = {}  # track id -> crossings so far (its episode number)
        self.counts = {"left_to_right": 0, "right_to_left": 0}

    def step(self, t: float, frame: Frame) -> list[Event]:
        rows = np.flatnonzero(self.relevant(frame))
        if not rows.size:
            return []
        distance, along = self.zone.side(frame.anchors(self.anchor)[rows])
        # Steps 1-2 for all at once: only tracks at least min_distance from the line have a side.
        far = ~(np.abs(distance) < float(self.params["min_distance"]))
        direction = LineDirection(self.zone.zone.direction)
        events = []
        for row, tid, d, pos in zip(rows[far].tolist(), frame.tracks.ids[rows[far]].tolist(), distance[far].tolist(),
                                    along[far].tolist(), strict=True):
            side = 1.0 if d > 0 else -1.0
            before = self.sides.get(tid)
            self.sides[tid] = side
            if before is None or before == side or not (-0.05 <= pos <= 1.05):
                continue
            way = "left_to_right" if before < 0 else "right_to_left"
            self.counts[way] += 1
            if crossing_counts(direction, before, side) and self.active(t) and self.cooled_down(t):
                self.crossings[tid] = self.crossings.get(tid, 0) + 1
                events.append(self.event(t, frame.tracks.track(row), self.crossings[tid], t, direction=way, counts=dict(self.counts)))
        return events

    def forget(self, live: set[int]) -> None:
        self.sides = {k: v for k, v in self.sides.items() if k in live}
        self.crossings = {k: v for k, v in self.crossings.items() if k in live}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "sides": {str(k): v for k, v in self.sides.items()},
                "crossings": {str(k): v for k, v in self.crossings.items()}, "counts": self.counts}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.sides = {int(k): v for k, v in state.get("sides", {}).items()}
        self.crossings = {int(k): v for k, v in state.get("crossings", {}).items()}
        self.counts = state.get("counts", self.counts)
