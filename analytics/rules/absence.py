"""absence: fewer than ``min_count`` people in the zone for ``threshold`` seconds while the
binding's schedule is active (a post left unattended). One event per absence."""
from __future__ import annotations

from collections.abc import Sequence

from analytics.rules.base import Event, ZoneConditionRule
from analytics.tracking import Track


class Absence(ZoneConditionRule):
    slug = "absence"

    def update(self, t: float, tracks: Sequence[Track]) -> list[Event]:
        # Unconfirmed tracks count as presence too: a person just arriving is not absent.
        present = [tr for tr in tracks if tr.cls in self.class_ids and tr.score >= self.binding.min_score]
        count = len(self.inside(present))
        absent = count < int(self.params["min_count"]) and self.active(t)  # outside the schedule nobody is missed
        return self.held(t, absent, float(self.params["threshold"]), count=count,
                         absent_for=round(t - self.since, 2) if self.since is not None else 0.0)
