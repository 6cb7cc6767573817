from __future__ import annotations

from controlplane.core.api import PanoptesViewSet
from controlplane.detectors.api.serializers import DetectorModelSerializer
from controlplane.detectors.models import DetectorModel


class DetectorModelViewSet(PanoptesViewSet):
    queryset = DetectorModel.objects.all()
    serializer_class = DetectorModelSerializer
    filterset_fields = ["is_default"]
    search_fields = ["name"]
    # A model with the most class names (analytics.limits.MAX_MODEL_CLASSES) is ~200 KB as JSON:
    # 20 a page keeps a page near 4 MB, like the heaviest pages of other lists.
    max_page_size = 20
