"""The built-in algorithm catalog: what each rule needs, as JSON Schema.

Seeded into the control plane by a data migration (controlplane.algorithms) and read by the rules
in analytics.rules. Adding an algorithm: add an entry here, a rule module, and a migration that
calls ``sync_catalog``. Times are seconds; distances are normalised image units (0..1).
"""
from __future__ import annotations

from typing import Any

PERSON = ["person"]
VEHICLES = ["car", "truck", "bus", "motorcycle"]


def _schema(properties: dict[str, dict[str, Any]], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


def _seconds(default: float, description: str, minimum: float = 0) -> dict[str, Any]:
    return {"type": "number", "minimum": minimum, "maximum": 86_400, "default": default, "description": description}


CATALOG: list[dict[str, Any]] = [
    {
        "slug": "intrusion",
        "name": "Intrusion",
        "description": "An object of the target classes is inside the zone for at least min_dwell seconds.",
        "zone_kinds": ["polygon"],
        "target_classes": PERSON,
        "params_schema": _schema({"min_dwell": _seconds(1.0, "Seconds inside before alarming.")}),
    },
    {
        "slug": "loitering",
        "name": "Loitering",
        "description": "An object stays inside the zone longer than threshold seconds.",
        "zone_kinds": ["polygon"],
        "target_classes": PERSON,
        "params_schema": _schema({"threshold": _seconds(30.0, "Seconds inside before alarming.", minimum=1)}),
    },
    {
        "slug": "line_crossing",
        "name": "Line crossing",
        "description": "A confirmed track crosses the line in the zone's direction; crossings are counted.",
        "zone_kinds": ["line"],
        "target_classes": PERSON,
        "params_schema": _schema(
            {
                "min_distance": {
                    "type": "number", "minimum": 0, "maximum": 0.5, "default": 0.02,
                    "description": "How far past the line (normalised) a track must get to count, against jitter.",
                }
            }
        ),
    },
    {
        "slug": "crowding",
        "name": "Crowding",
        "description": "At least min_count objects are in the zone for min_duration seconds.",
        "zone_kinds": ["polygon"],
        "target_classes": PERSON,
        "params_schema": _schema(
            {
                "min_count": {"type": "integer", "minimum": 2, "maximum": 10_000, "default": 5},
                "min_duration": _seconds(5.0, "Seconds the crowd must last."),
            }
        ),
    },
    {
        "slug": "absence",
        "name": "Absence from post",
        "description": "Fewer than min_count people are in the zone for threshold seconds during the schedule.",
        "zone_kinds": ["polygon"],
        "target_classes": PERSON,
        "params_schema": _schema(
            {
                "threshold": _seconds(60.0, "Seconds the post may be left unattended.", minimum=1),
                "min_count": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
            }
        ),
    },
    {
        "slug": "stationary_vehicle",
        "name": "Stationary vehicle",
        "description": "A vehicle barely moves (less than max_movement) for threshold seconds.",
        "zone_kinds": ["polygon"],
        "target_classes": VEHICLES,
        "params_schema": _schema(
            {
                "threshold": _seconds(120.0, "Seconds without moving before alarming.", minimum=1),
                "max_movement": {
                    "type": "number", "minimum": 0, "maximum": 1, "default": 0.02,
                    "description": "Largest normalised displacement still counted as not moving.",
                },
            }
        ),
    },
]
