from __future__ import annotations

from rest_framework import serializers

from controlplane.algorithms.models import Algorithm, AlgorithmBinding
from controlplane.core.api import CleanModelSerializer, ScopedRelatedField
from controlplane.zones.models import Zone


class AlgorithmSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Algorithm
        fields = ["id", "slug", "name", "description", "params_schema", "target_classes", "zone_kinds"]


class BindingSerializer(CleanModelSerializer):
    zone = ScopedRelatedField(queryset=Zone.objects.select_related("camera"), site_field="camera__site")
    algorithm = serializers.SlugRelatedField(slug_field="slug", queryset=Algorithm.objects.all())
    camera = serializers.IntegerField(source="zone.camera_id", read_only=True)

    class Meta:
        model = AlgorithmBinding
        fields = [
            "id", "zone", "camera", "algorithm", "params", "target_classes", "min_score", "schedule",
            "cooldown_seconds", "severity", "replay_pre_seconds", "replay_post_seconds", "enabled", "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
