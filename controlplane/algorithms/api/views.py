from __future__ import annotations

from typing import Any

from rest_framework import viewsets

from controlplane.algorithms.api.serializers import AlgorithmSerializer, BindingSerializer
from controlplane.algorithms.models import Algorithm, AlgorithmBinding
from controlplane.core.api import PanoptesViewSet
from controlplane.core.choices import Role
from controlplane.zones import locks


class AlgorithmViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    queryset = Algorithm.objects.all()
    serializer_class = AlgorithmSerializer
    lookup_field = "slug"
    search_fields = ["slug", "name"]


class BindingViewSet(PanoptesViewSet):
    queryset = AlgorithmBinding.objects.select_related("algorithm", "zone")
    serializer_class = BindingSerializer
    write_role = Role.OPERATOR
    site_field = "zone__camera__site"
    filterset_fields = {"zone": ["exact"], "zone__camera": ["exact"], "algorithm__slug": ["exact"], "enabled": ["exact"], "severity": ["exact"]}

    # A write while another user holds the camera's edit lock (controlplane.zones.locks) is a 409.
    def perform_create(self, serializer: Any) -> None:
        locks.check_write(serializer.validated_data["zone"].camera_id, self.request.user)
        super().perform_create(serializer)

    def perform_update(self, serializer: Any) -> None:
        locks.check_write(serializer.instance.zone.camera_id, self.request.user)
        if "zone" in serializer.validated_data:
            locks.check_write(serializer.validated_data["zone"].camera_id, self.request.user)
        super().perform_update(serializer)

    def perform_destroy(self, instance: Any) -> None:
        locks.check_write(instance.zone.camera_id, self.request.user)
        super().perform_destroy(instance)
