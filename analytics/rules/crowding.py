"""crowding: at least ``min_count`` objects in the zone for ``min_duration`` seconds (one event per crowd)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.rules.base import Event, Rule
from analytics.tracking import Track


class Crowding(Rule):
    slug = "crowding"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.since: float | None = None  # when the current crowd formed
        self.reported = False

    def update(self, t: float, tracks: Sequence[Track]) -> list[Event]:
        count = len(self.inside(self.relevant(tracks)))
        if count < int(self.params["min_count"]):
            self.since, self.reported = None, False
            return []
        if self.since is None:
            self.since = t
            self.episodes += 1
        if not self.reported and t - self.since >= float(self.params["min_duration"]) and self.active(t) and self.cooled_down(t):
            self.reported = True
            return [self.event(t, None, self.episodes, self.since, count=count)]
        return []

    def state(self) -> dict[str, Any]:
        return {**super().state(), "since": self.since, "reported": self.reported}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.since, self.reported = state.get("since"), state.get("reported", False)
