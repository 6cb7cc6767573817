from __future__ import annotations

from django.db import models

from analytics.config import Severity


class SeverityChoices(models.TextChoices):
    INFO = Severity.INFO.value, "Info"
    LOW = Severity.LOW.value, "Low"
    MEDIUM = Severity.MEDIUM.value, "Medium"
    HIGH = Severity.HIGH.value, "High"
    CRITICAL = Severity.CRITICAL.value, "Critical"


class AlarmStatus(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLOSED = "closed", "Closed"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead-lettered"


class AlarmEventType(models.TextChoices):
    CREATED = "alarm.created", "alarm.created"
    REPLAY_READY = "alarm.replay_ready", "alarm.replay_ready"


class ReplayStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the post-roll"
    READY = "ready", "Ready"
    PARTIAL = "partial", "Ready, with gaps (the stream broke inside the window)"
    MISSING = "missing", "No video (nothing recorded in the window)"


class DeliveryChannel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    MQTT = "mqtt", "MQTT"


class AlarmAction(models.TextChoices):
    CREATED = "created", "Created"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLOSED = "closed", "Closed"
