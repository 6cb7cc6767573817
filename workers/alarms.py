"""Phase one of a new alarm (DESIGN §6): snapshot, then the `alarm.created` deliveries at once.

The alarm and its outbox rows were committed together by the analysis; this only makes the first
attempts fast. Anything it does not get to (a lost message, a dead worker) the beat task sends.
"""
from __future__ import annotations

import logging

from controlplane.alarms.choices import AlarmEventType, DeliveryState
from controlplane.alarms.models import Alarm, AlarmDelivery
from workers.dispatch import send_delivery
from workers.replay import ensure_snapshot

logger = logging.getLogger(__name__)


def alarm_created(alarm_id: int) -> str:
    alarm = Alarm.objects.select_related("camera", "zone").filter(pk=alarm_id).first()
    if alarm is None:
        return "gone"
    snapshot = ensure_snapshot(alarm)
    pending = AlarmDelivery.objects.filter(alarm=alarm, event_type=AlarmEventType.CREATED, state=DeliveryState.PENDING)
    sent = sum(send_delivery(d) for d in pending.values_list("id", flat=True))
    return f"snapshot {'ready' if snapshot else 'missing'}, {sent} delivery(ies) sent"
