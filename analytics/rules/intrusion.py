"""intrusion: an object of the target classes inside the zone for at least ``min_dwell`` seconds."""
from __future__ import annotations

from analytics.rules.base import DwellRule


class Intrusion(DwellRule):
    slug = "intrusion"

    def seconds(self) -> float:
        return float(self.params["min_dwell"])
