"""absence: fewer than ``min_count`` people in the zone for ``threshold`` seconds while the
binding's schedule is active (a post left unattended). One event per absence."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.rules.base import Event, Rule
from analytics.tracking import Track


class Absence(Rule):
    slug = "absence"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.since: float | None = None  # when the post became unattended (within the schedule)
        self.reported = False

    def update(self, t: float, tracks: Sequence[Track]) -> list[Event]:
        # Unconfirmed tracks count as presence too: a person just arriving is not absent.
        present = [tr for tr in tracks if tr.cls in self.class_ids and tr.score >= self.binding.min_score]
        count = len(self.inside(present))
        if count >= int(self.params["min_count"]) or not self.active(t):
            self.since, self.reported = None, False
            return []
        if self.since is None:
            self.since = t
            self.episodes += 1
        if not self.reported and t - self.since >= float(self.params["threshold"]) and self.cooled_down(t):
            self.reported = True
            return [self.event(t, None, self.episodes, self.since, count=count, absent_for=round(t - self.since, 2))]
        return []

    def state(self) -> dict[str, Any]:
        return {**super().state(), "since": self.since, "reported": self.reported}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.since, self.reported = state.get("since"), state.get("reported", False)
