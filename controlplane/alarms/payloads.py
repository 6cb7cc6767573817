"""The alarm event payload sent to webhooks and MQTT: a documented, versioned schema (DESIGN §6).

Version 1. Standard Webhooks envelope (``type``, ``timestamp``, ``data``). Fields are only ever
added within a version; a removed or changed field makes version 2. ``docs/webhooks.md`` documents
it and ``docs/alarm-event.schema.json`` is this model's JSON Schema (a test keeps them equal).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from controlplane.alarms.media import signed_url
from controlplane.alarms.models import Alarm

SCHEMA_VERSION: Literal[1] = 1


class Ref(BaseModel):
    id: int | None
    name: str


class AlarmData(BaseModel):
    id: int
    camera: Ref
    zone: Ref
    binding: int | None
    algorithm: str = Field(description="Slug of the algorithm in the catalog, e.g. intrusion.")
    severity: Literal["info", "low", "medium", "high", "critical"]
    status: Literal["new", "acknowledged", "closed"]
    event_time: datetime
    object_class: str = Field(description="Class name of the object (empty for zone-level events such as absence).")
    score: float | None
    box: list[float] | None = Field(description="[x1, y1, x2, y2] in pixels of the camera's frame, at the event.")
    details: dict[str, object] = Field(description="Algorithm-specific: track id, dwell, counts, track boxes.")
    snapshot_url: str | None = Field(description="Signed, expiring link to the JPEG (zone and box drawn).")
    replay_status: Literal["pending", "ready", "partial", "missing"]
    replay_url: str | None = Field(description="Signed, expiring link to the MP4; set in alarm.replay_ready.")
    replay_seconds: float | None
    replay_note: str = Field(description="Why a replay is partial or missing.")


class AlarmEvent(BaseModel):
    """Receivers should ignore fields they do not know: version 1 may gain fields, never lose them."""

    type: Literal["alarm.created", "alarm.replay_ready"]
    schema_version: Literal[1] = SCHEMA_VERSION
    timestamp: datetime = Field(description="When this event was first produced (the same on every attempt).")
    data: AlarmData


def alarm_event(alarm: Alarm, event_type: str, timestamp: datetime) -> AlarmEvent:
    replay_ready = alarm.replay_path and alarm.replay_status in ("ready", "partial")
    return AlarmEvent.model_validate({
        "type": event_type,
        "timestamp": timestamp,
        "data": {
            "id": alarm.pk,
            "camera": {"id": alarm.camera_id, "name": alarm.camera.name},
            "zone": {"id": alarm.zone_id, "name": alarm.zone_name},
            "binding": alarm.binding_id,
            "algorithm": alarm.algorithm,
            "severity": alarm.severity,
            "status": alarm.status,
            "event_time": alarm.event_time,
            "object_class": alarm.object_class,
            "score": alarm.score,
            "box": alarm.details.get("box"),
            "details": {k: v for k, v in alarm.details.items() if k != "box"},
            "snapshot_url": signed_url(alarm.pk, "snapshot") if alarm.snapshot_path else None,
            "replay_status": alarm.replay_status,
            "replay_url": signed_url(alarm.pk, "replay") if replay_ready else None,
            "replay_seconds": alarm.replay_seconds,
            "replay_note": alarm.replay_note,
        },
    })


def json_schema() -> dict[str, object]:
    return AlarmEvent.model_json_schema()
