from __future__ import annotations

from typing import Any

from controlplane.core.api import PanoptesViewSet
from controlplane.core.choices import Role
from controlplane.zones import locks
from controlplane.zones.api.serializers import ZoneSerializer
from controlplane.zones.models import Zone


class ZoneViewSet(PanoptesViewSet):
    queryset = Zone.objects.select_related("camera")
    serializer_class = ZoneSerializer
    write_role = Role.OPERATOR
    site_field = "camera__site"
    filterset_fields = ["camera", "kind", "enabled"]
    search_fields = ["name"]

    # A write while another user holds the camera's edit lock (controlplane.zones.locks) is a 409.
    def perform_create(self, serializer: Any) -> None:
        locks.check_write(serializer.validated_data["camera"].pk, self.request.user)
        super().perform_create(serializer)

    def perform_update(self, serializer: Any) -> None:
        locks.check_write(serializer.instance.camera_id, self.request.user)
        if "camera" in serializer.validated_data:
            locks.check_write(serializer.validated_data["camera"].pk, self.request.user)
        super().perform_update(serializer)

    def perform_destroy(self, instance: Any) -> None:
        locks.check_write(instance.camera_id, self.request.user)
        super().perform_destroy(instance)
