"""One rule per algorithm of the catalog (analytics.catalog); ``build`` makes one for a binding."""
from __future__ import annotations

from analytics.config import BindingConfig
from analytics.rules.absence import Absence
from analytics.rules.base import Event, Rule
from analytics.rules.crowding import Crowding
from analytics.rules.intrusion import Intrusion
from analytics.rules.line_crossing import LineCrossing
from analytics.rules.loitering import Loitering
from analytics.rules.stationary_vehicle import StationaryVehicle
from analytics.zones import ZoneShape

RULES: dict[str, type[Rule]] = {r.slug: r for r in (Intrusion, Loitering, LineCrossing, Crowding, Absence, StationaryVehicle)}

__all__ = ["Event", "Rule", "RULES", "build"]


def build(binding: BindingConfig, zone: ZoneShape, class_names: list[str]) -> Rule:
    """The rule for a binding; target classes are resolved against the model's class names."""
    if binding.algorithm not in RULES:
        raise ValueError(f"no rule implements algorithm {binding.algorithm!r}")
    targets = set(binding.target_classes)
    ids = {i for i, name in enumerate(class_names) if name in targets}
    return RULES[binding.algorithm](binding, zone, ids)
