"""crowding: at least ``min_count`` objects in the zone for ``min_duration`` seconds (one event per crowd)."""
from __future__ import annotations

from analytics.rules.base import Event, ZoneConditionRule
from analytics.rules.frame import Frame


class Crowding(ZoneConditionRule):
    slug = "crowding"

    def step(self, t: float, frame: Frame) -> list[Event]:
        count = int(self.inside(frame, self.relevant(frame)).size)
        return self.held(t, count >= int(self.params["min_count"]), float(self.params["min_duration"]), count=count)
