"""crowding: at least ``min_count`` objects in the zone for ``min_duration`` seconds (one event per crowd)."""
from __future__ import annotations

from collections.abc import Sequence

from analytics.rules.base import Event, ZoneConditionRule
from analytics.tracking import Track


class Crowding(ZoneConditionRule):
    slug = "crowding"

    def update(self, t: float, tracks: Sequence[Track]) -> list[Event]:
        count = len(self.inside(self.relevant(tracks)))
        return self.held(t, count >= int(self.params["min_count"]), float(self.params["min_duration"]), count=count)
