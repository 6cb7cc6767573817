"""Events pushed to WebSocket clients (the panel and integrators at /ws/v1/events/).

One schema for every channel: alarm events are exactly the webhook payload
(controlplane.alarms.payloads.alarm_event, version 1); camera status events follow the same
envelope (``type``, ``schema_version``, ``timestamp``, ``data``). Documented in docs/websocket.md.

Alarm events go to one channel-layer group, ``events``, with the camera's site beside the
payload; each consumer passes on only what its user may see (controlplane.core.roles semantics).
Publishing happens after the commit that made the event true, and never raises: a socket client
that missed an event finds the alarm in the API (the webhook outbox is the delivery guarantee).
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from controlplane.alarms.models import Alarm
from controlplane.alarms.payloads import SCHEMA_VERSION, alarm_event

logger = logging.getLogger(__name__)

GROUP = "events"
# Status fields a client gets (what the API's /cameras/status/ shows, less internals).
STATUS_FIELDS = ("state", "worker", "input_fps", "last_segment_at", "last_error", "reconnects", "updated_at")


def publish_alarm_after_commit(alarm_id: int, event_type: str) -> None:
    """Call inside the transaction that creates the alarm or readies its replay."""
    transaction.on_commit(lambda: publish_alarm(alarm_id, event_type))


def publish_alarm(alarm_id: int, event_type: str) -> bool:
    """Send the alarm's event to every connected socket (used by workers.analyze, workers.replay)."""
    try:
        alarm = Alarm.objects.select_related("camera").get(pk=alarm_id)
        stamp = alarm.created_at if event_type == "alarm.created" else timezone.now()
        event = alarm_event(alarm, event_type, stamp).model_dump(mode="json")
        layer = get_channel_layer()
        if layer is None:
            return False
        async_to_sync(layer.group_send)(GROUP, {
            "type": "event.push", "event": event, "site": alarm.camera.site_id, "camera": alarm.camera_id,
        })
    except Exception as exc:  # Redis down, alarm gone: the socket push is best effort
        logger.warning("alarm %s: %s not pushed to sockets (%s)", alarm_id, event_type, exc)
        return False
    return True


def camera_status_event(camera_id: int, name: str, status: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "camera.status",
        "schema_version": SCHEMA_VERSION,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"camera": {"id": camera_id, "name": name}, **{f: status.get(f, "") for f in STATUS_FIELDS}},
    }
