from __future__ import annotations

from typing import Any

from rest_framework import serializers

from controlplane.alarms.models import Alarm, AlarmDelivery, AlarmHistory, WebhookEndpoint
from controlplane.cameras.models import Camera
from controlplane.core.api import CleanModelSerializer


class WebhookEndpointSerializer(CleanModelSerializer):
    secret = serializers.CharField(write_only=True, min_length=16, max_length=200, style={"input_type": "password"})
    cameras = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Camera.objects.all())

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "secret", "enabled", "cameras", "algorithms", "min_severity", "created_at"]
        read_only_fields = ["created_at"]


class AlarmHistorySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(  # null: the system, or a deleted user
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = AlarmHistory
        fields = ["action", "from_status", "to_status", "user", "note", "at"]
        read_only_fields = fields


class AlarmSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    # null until someone acknowledges or closes the alarm, and again once that user is deleted
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    closed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    has_snapshot = serializers.SerializerMethodField()
    history = AlarmHistorySerializer(many=True, read_only=True)

    class Meta:
        model = Alarm
        fields = [
            "id", "camera", "zone", "zone_name", "binding", "algorithm", "severity", "status", "event_time",
            "object_class", "score", "details", "has_snapshot", "replay_status", "replay_start", "replay_seconds",
            "replay_note", "created_at", "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "close_note",
            "history",
        ]
        read_only_fields = fields

    def get_has_snapshot(self, alarm: Alarm) -> bool:
        return bool(alarm.snapshot_path)


class CloseSerializer(serializers.Serializer):  # type: ignore[type-arg]
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AlarmDeliverySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = AlarmDelivery
        fields = [
            "id", "alarm", "channel", "endpoint", "target", "event_type", "state", "attempts", "next_attempt_at",
            "last_status_code", "last_response", "delivered_at", "created_at",
        ]
        read_only_fields = fields
