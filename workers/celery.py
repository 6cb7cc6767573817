"""The Celery app: `celery -A workers worker -Q <queues>` and `celery -A workers beat` (DESIGN §2).

Delivery settings (DESIGN §5), the same on Redis and RabbitMQ:
- finite tasks (gpu, analysis, alarms, control) ack late, one prefetched message per process,
  and go back to the queue if their worker dies, so no work is lost;
- the capture task acks early: its safety net is camera ownership (leases + epochs), so a broker
  redelivery must never start a second copy of it.
"""
from __future__ import annotations

import os

from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

app = Celery("panoptes")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("capture", "gpu", "analysis", "alarms", "control")

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
    task_default_queue="control",
    task_routes={
        "panoptes.capture_camera": {"queue": "capture"},
        "panoptes.detect_segment": {"queue": "gpu"},
        "panoptes.analyze_segment": {"queue": "analysis"},
        "panoptes.reconcile_cameras": {"queue": "control"},
        "panoptes.apply_retention": {"queue": "control"},
        "panoptes.dispatch_alarm_work": {"queue": "control"},
        "panoptes.alarm_created": {"queue": "alarms"},
        "panoptes.deliver": {"queue": "alarms"},
        "panoptes.cut_replay": {"queue": "alarms"},
    },
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # A lost broker connection must not leave long tasks running unacknowledged twice.
    worker_cancel_long_running_tasks_on_connection_loss=True,
    broker_connection_retry_on_startup=True,
    # Redis: a message not acked within this many seconds is delivered again. Longer than any
    # finite task's hard time limit, so a slow task is never run twice while it still runs.
    broker_transport_options={"visibility_timeout": 3600, "queue_order_strategy": "priority"},
    worker_hijack_root_logger=False,
    timezone="UTC",
)


def _beat_schedule() -> dict[str, dict[str, object]]:
    from django.conf import settings

    return {
        "reconcile-cameras": {
            "task": "panoptes.reconcile_cameras",
            "schedule": float(settings.RECONCILE_SECONDS),
            "options": {"queue": "control", "expires": float(settings.RECONCILE_SECONDS)},
        },
        "dispatch-alarm-work": {
            "task": "panoptes.dispatch_alarm_work",
            "schedule": float(settings.RECONCILE_SECONDS),
            "options": {"queue": "control", "expires": float(settings.RECONCILE_SECONDS)},
        },
        "apply-retention": {
            "task": "panoptes.apply_retention",
            "schedule": float(settings.RETENTION_SECONDS),
            "options": {"queue": "control", "expires": float(settings.RETENTION_SECONDS)},
        },
    }


app.conf.beat_schedule = _beat_schedule()
# Imported by worker processes at start, not by everything that imports `workers` (the web
# process must not load PyAV and OpenCV to send a task by name).
app.conf.imports = ["workers.tasks"]
