from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from analytics.config import Severity
from controlplane.alarms.choices import (
    AlarmAction,
    AlarmEventType,
    AlarmStatus,
    DeliveryChannel,
    DeliveryState,
    ReplayStatus,
    SeverityChoices,
)
from controlplane.core.fields import EncryptedTextField
from controlplane.core.validators import validate_webhook_url, webhook_signing_key


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

    def clean(self) -> None:
        if self.secret:
            try:
                webhook_signing_key(self.secret)  # the key workers.delivery signs with
            except ValidationError as exc:
                raise ValidationError({"secret": exc.messages}) from None

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
    replay_status = models.CharField(max_length=10, choices=ReplayStatus.choices, default=ReplayStatus.PENDING)
    replay_start = models.DateTimeField(null=True, blank=True, help_text="Wall time of the replay's first frame.")
    replay_seconds = models.FloatField(null=True, blank=True)
    replay_note = models.CharField(max_length=500, blank=True, help_text="Why the replay is partial or missing.")
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    close_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-event_time", "-id"]
        indexes = [
            models.Index(fields=["camera", "-event_time"]), models.Index(fields=["status", "-event_time"]),
            # The alarm lists' own order (panel and API), read from an index instead of sorting every
            # alarm: the panel's first page of 100,000 alarms 65 ms p50 with it, 85 without (bench/panel_pages.py).
            models.Index(fields=["-event_time", "-id"], name="alarm_newest_first"),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} on {self.camera_id} at {self.event_time:%Y-%m-%d %H:%M:%S}"

    def acknowledge(self, user: Any) -> bool:
        """Mark a new alarm acknowledged; False if it already was (a conditional update, race-free)."""
        now = timezone.now()
        done = Alarm.objects.filter(pk=self.pk, status=AlarmStatus.NEW).update(
            status=AlarmStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        if done:
            AlarmHistory.objects.create(alarm_id=self.pk, action=AlarmAction.ACKNOWLEDGED, from_status=AlarmStatus.NEW,
                                        to_status=AlarmStatus.ACKNOWLEDGED, user=user, at=now)
        self.refresh_from_db()
        return done == 1

    def close(self, user: Any, note: str = "") -> bool:
        """Close a new or acknowledged alarm with a note; False if it already was closed."""
        now = timezone.now()
        before = self.status
        done = Alarm.objects.filter(pk=self.pk, status=before).exclude(status=AlarmStatus.CLOSED).update(
            status=AlarmStatus.CLOSED, closed_at=now, closed_by=user, close_note=note
        )
        if done:
            AlarmHistory.objects.create(alarm_id=self.pk, action=AlarmAction.CLOSED, from_status=before,
                                        to_status=AlarmStatus.CLOSED, user=user, note=note, at=now)
        self.refresh_from_db()
        return done == 1

    def replay_window(self) -> tuple[float, float]:
        """(pre, post) seconds around the event: the binding's, else the camera's."""
        binding = self.binding
        camera = self.camera
        pre = binding.replay_pre_seconds if binding and binding.replay_pre_seconds is not None else camera.replay_pre_seconds
        post = binding.replay_post_seconds if binding and binding.replay_post_seconds is not None else camera.replay_post_seconds
        return float(pre), float(post)


class AlarmHistory(models.Model):
    """Every change of an alarm's status: who, when, from what to what, and the note given."""

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="history")
    action = models.CharField(max_length=15, choices=AlarmAction.choices)
    from_status = models.CharField(max_length=15, choices=AlarmStatus.choices, blank=True)
    to_status = models.CharField(max_length=15, choices=AlarmStatus.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["alarm_id", "at", "id"]
        verbose_name_plural = "alarm history"

    def __str__(self) -> str:
        return f"alarm {self.alarm_id} {self.action} at {self.at:%Y-%m-%d %H:%M:%S}"


class AlarmDelivery(models.Model):
    """Outbox row: one event of one alarm to one target (a webhook endpoint or MQTT), with its attempts (DESIGN §6).

    ``target`` ("webhook:<endpoint id>" or "mqtt") makes (alarm, target, event) unique on every
    database. A worker claims a row by moving ``next_attempt_at`` past its request timeout with a
    conditional update; a worker killed mid-request leaves the claim to expire, and the row is
    sent again with the same ``webhook-id`` / ``Idempotency-Key`` (the row's ``message_id``).
    """

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=DeliveryChannel.choices, default=DeliveryChannel.WEBHOOK)
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    target = models.CharField(max_length=50)
    event_type = models.CharField(max_length=30, choices=AlarmEventType.choices)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, help_text="The last attempt's outcome: response excerpt or error.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alarm deliveries"
        constraints = [
            models.UniqueConstraint(fields=["alarm", "target", "event_type"], name="delivery_once_per_event"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} of alarm {self.alarm_id} to {self.target}: {self.state}"

    @property
    def message_id(self) -> str:
        """Stable across attempts: receivers deduplicate on it (webhook-id and Idempotency-Key)."""
        return f"msg_panoptes_{self.pk}"

    def retry(self) -> bool:
        """Send a dead-lettered row again from scratch; False if it is not dead."""
        done = AlarmDelivery.objects.filter(pk=self.pk, state=DeliveryState.DEAD).update(
            state=DeliveryState.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        self.refresh_from_db()
        return done == 1
