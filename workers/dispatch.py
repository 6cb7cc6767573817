"""Sending alarm work to the `alarms` queue. Light: the web process imports it (API retry action).

A message lost here (broker down) loses nothing: the outbox row or the alarm's state stays, and
the beat task ``panoptes.dispatch_alarm_work`` (workers.delivery.dispatch_due) sends it again.
"""
from __future__ import annotations

import logging

from controlplane.core.redis import client, key

logger = logging.getLogger(__name__)


def send(task: str, object_id: int, *, dedup_seconds: float = 0) -> bool:
    """Queue ``task(object_id)`` on `alarms`; with ``dedup_seconds``, at most once in that window."""
    from workers.celery import app

    if dedup_seconds:
        try:
            if not client().set(key("queued", task, object_id), "1", nx=True, px=int(dedup_seconds * 1000)):
                return False
        except Exception as exc:  # Redis down: send anyway; the task itself is idempotent
            logger.debug("dedup key not set (%s)", exc)
    try:
        app.send_task(task, args=[object_id], queue="alarms")
    except Exception as exc:  # kombu raises many kinds of errors on a broker outage
        logger.warning("%s(%s) not queued (%s); the beat task will send it", task, object_id, exc)
        return False
    return True


def send_delivery(delivery_id: int) -> bool:
    return send("panoptes.deliver", delivery_id)
