from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from analytics.config import Severity
from controlplane.alarms.choices import AlarmEventType, AlarmStatus, DeliveryState, SeverityChoices
from controlplane.core.fields import EncryptedTextField
from controlplane.core.validators import validate_webhook_url


def _validate_slugs(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError("must be a list of algorithm slugs")


class WebhookEndpoint(models.Model):
    """An external HTTP receiver of alarm events, signed with ``secret`` (Standard Webhooks).

    Filters: only alarms of the listed cameras (none listed: all), of the listed algorithms (none:
    all), and of at least ``min_severity``.
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=1000, validators=[validate_webhook_url])
    secret = EncryptedTextField(help_text="Shared secret for the webhook-signature HMAC.")
    enabled = models.BooleanField(default=True)
    cameras = models.ManyToManyField("cameras.Camera", blank=True, related_name="webhook_endpoints")
    algorithms = models.JSONField(default=list, blank=True, validators=[_validate_slugs])
    min_severity = models.CharField(max_length=10, choices=SeverityChoices.choices, default=SeverityChoices.INFO)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, alarm: Alarm) -> bool:
        if not self.enabled or Severity(alarm.severity).rank < Severity(self.min_severity).rank:
            return False
        if self.algorithms and alarm.algorithm not in self.algorithms:
            return False
        camera_ids = {c.pk for c in self.cameras.all()}
        return not camera_ids or alarm.camera_id in camera_ids


class Alarm(models.Model):
    """One violation episode. ``dedup_key`` (binding, track, episode) makes creation idempotent.

    Zone, binding and algorithm are kept by name too, so an alarm stays readable after its
    configuration is edited or deleted.
    """

    camera = models.ForeignKey("cameras.Camera", on_delete=models.CASCADE, related_name="alarms")
    zone = models.ForeignKey("zones.Zone", null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms")
    binding = models.ForeignKey(
        "algorithms.AlgorithmBinding", null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms"
    )
    algorithm = models.SlugField(max_length=50)
    zone_name = models.CharField(max_length=100, blank=True)
    dedup_key = models.CharField(max_length=200, unique=True)
    severity = models.CharField(max_length=10, choices=SeverityChoices.choices, default=SeverityChoices.MEDIUM)
    status = models.CharField(max_length=15, choices=AlarmStatus.choices, default=AlarmStatus.NEW)
    event_time = models.DateTimeField()
    object_class = models.CharField(max_length=50, blank=True)
    score = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Track boxes around the event, counts, params.")
    snapshot_path = models.CharField(max_length=500, blank=True)
    replay_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-event_time", "-id"]
        indexes = [models.Index(fields=["camera", "-event_time"]), models.Index(fields=["status", "-event_time"])]

    def __str__(self) -> str:
        return f"{self.algorithm} on {self.camera_id} at {self.event_time:%Y-%m-%d %H:%M:%S}"

    def acknowledge(self, user: Any) -> bool:
        """Mark a new alarm acknowledged; False if it already was (a conditional update, race-free)."""
        now = timezone.now()
        done = Alarm.objects.filter(pk=self.pk, status=AlarmStatus.NEW).update(
            status=AlarmStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        self.refresh_from_db()
        return done == 1


class AlarmDelivery(models.Model):
    """Outbox row: one event of one alarm to one endpoint, with its attempts (DESIGN §6)."""

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=30, choices=AlarmEventType.choices)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["alarm", "endpoint", "event_type"], name="delivery_once_per_event"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} of alarm {self.alarm_id} to {self.endpoint_id}: {self.state}"
