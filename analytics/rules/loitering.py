"""loitering: an object stays inside the zone longer than ``threshold`` seconds."""
from __future__ import annotations

from analytics.rules.base import DwellRule


class Loitering(DwellRule):
    slug = "loitering"

    def seconds(self) -> float:
        return float(self.params["threshold"])
