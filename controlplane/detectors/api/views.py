from __future__ import annotations

from controlplane.core.api import PanoptesViewSet
from controlplane.detectors.api.serializers import DetectorModelSerializer
from controlplane.detectors.models import DetectorModel


class DetectorModelViewSet(PanoptesViewSet):
    queryset = DetectorModel.objects.all()
    serializer_class = DetectorModelSerializer
    filterset_fields = ["is_default"]
    search_fields = ["name"]
