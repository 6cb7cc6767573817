"""absence: fewer than ``min_count`` people in the zone for ``threshold`` seconds while the
binding's schedule is active (a post left unattended). One event per absence."""
from __future__ import annotations

import numpy as np

from analytics.rules.base import Event, ZoneConditionRule
from analytics.rules.frame import Frame


class Absence(ZoneConditionRule):
    slug = "absence"

    def step(self, t: float, frame: Frame) -> list[Event]:
        # Unconfirmed tracks count as presence too: a person just arriving is not absent.
        present = frame.selected(self.class_ids, self.binding.min_score, confirmed_only=False)
        count = int(np.count_nonzero(present & frame.inside(self.zone, self.anchor)))
        absent = count < int(self.params["min_count"]) and self.active(t)  # outside the schedule nobody is missed
        return self.held(t, absent, float(self.params["threshold"]), count=count,
                         absent_for=round(t - self.since, 2) if self.since is not None else 0.0)
