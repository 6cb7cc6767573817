from __future__ import annotations

from typing import Any

from rest_framework import serializers

from controlplane.alarms.models import Alarm, AlarmDelivery, WebhookEndpoint
from controlplane.cameras.models import Camera
from controlplane.core.api import CleanModelSerializer


class WebhookEndpointSerializer(CleanModelSerializer):
    secret = serializers.CharField(write_only=True, min_length=16, max_length=200, style={"input_type": "password"})
    cameras = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Camera.objects.all())

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "secret", "enabled", "cameras", "algorithms", "min_severity", "created_at"]
        read_only_fields = ["created_at"]


class AlarmSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alarm
        fields = [
            "id", "camera", "zone", "zone_name", "binding", "algorithm", "severity", "status", "event_time",
            "object_class", "score", "details", "created_at", "acknowledged_at", "acknowledged_by",
        ]
        read_only_fields = fields


class AlarmDeliverySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = AlarmDelivery
        fields = [
            "id", "alarm", "endpoint", "event_type", "state", "attempts", "next_attempt_at", "last_status_code",
            "last_response", "delivered_at", "created_at",
        ]
        read_only_fields = fields
