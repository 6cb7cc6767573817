from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.config import mask_url
from controlplane.cameras.models import Camera, Segment, Site
from controlplane.core.api import CleanModelSerializer


class SiteSerializer(CleanModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "name", "description", "members"]


class CameraSerializer(CleanModelSerializer):
    """Credentials are write-only: give ``username``/``password`` (or put them in the URL once);
    they are stored encrypted and never returned (``has_credentials`` says whether there are any)."""

    username = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200)
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200, style={"input_type": "password"}
    )
    has_credentials = serializers.BooleanField(read_only=True)

    class Meta:
        model = Camera
        fields = [
            "id", "name", "stream_url", "username", "password", "has_credentials", "enabled", "segment_seconds",
            "detect_fps", "detect_width", "detect_height", "retention_hours", "site", "location", "tags",
            "detector_model", "replay_pre_seconds", "replay_post_seconds", "epoch", "created_at", "updated_at",
        ]
        read_only_fields = ["epoch", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        username = attrs.pop("username", None)
        password = attrs.pop("password", None)
        attrs = super().validate(attrs)
        if username is not None or password is not None:
            current = self.instance.get_credentials() if self.instance else None
            user = username if username is not None else (current[0] if current else "")
            pwd = password if password is not None else (current[1] if current else "")
            attrs["credentials"] = Camera.credentials_for(user, pwd)
        return attrs

    def to_representation(self, instance: Camera) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["stream_url"] = mask_url(instance.stream_url)
        return data


class SegmentSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Segment
        fields = ["id", "camera", "seq", "epoch", "start_time", "end_time", "path", "size_bytes", "discontinuity", "created_at"]
        read_only_fields = fields


class CameraStatusSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Live capture status, written by the camera's capture worker (workers.status)."""

    camera = serializers.IntegerField()
    state = serializers.CharField()
    worker = serializers.CharField(required=False)
    epoch = serializers.CharField(required=False)
    input_fps = serializers.CharField(required=False)
    bitrate = serializers.CharField(required=False)
    last_segment_at = serializers.CharField(required=False)
    last_error = serializers.CharField(required=False)
    reconnects = serializers.CharField(required=False)
    config_version = serializers.CharField(required=False)
    updated_at = serializers.CharField(required=False)
