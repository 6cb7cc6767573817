from __future__ import annotations

from controlplane.cameras.api.serializers import CameraSerializer, SiteSerializer
from controlplane.cameras.models import Camera, Site
from controlplane.core.api import PanoptesViewSet


class SiteViewSet(PanoptesViewSet):
    queryset = Site.objects.prefetch_related("members")
    serializer_class = SiteSerializer
    search_fields = ["name"]


class CameraViewSet(PanoptesViewSet):
    queryset = Camera.objects.select_related("site")
    serializer_class = CameraSerializer
    site_field = "site"
    filterset_fields = ["enabled", "site", "detector_model"]
    search_fields = ["name", "location"]
    ordering_fields = ["name", "created_at", "updated_at"]
