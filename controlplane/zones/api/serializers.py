from __future__ import annotations

from controlplane.cameras.models import Camera
from controlplane.core.api import CleanModelSerializer, ScopedRelatedField
from controlplane.zones.models import Zone


class ZoneSerializer(CleanModelSerializer):
    camera = ScopedRelatedField(queryset=Camera.objects.all(), site_field="site")

    class Meta:
        model = Zone
        fields = ["id", "camera", "name", "kind", "points", "direction", "enabled", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
