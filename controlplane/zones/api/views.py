from __future__ import annotations

from controlplane.core.api import PanoptesViewSet
from controlplane.core.choices import Role
from controlplane.zones.api.serializers import ZoneSerializer
from controlplane.zones.models import Zone


class ZoneViewSet(PanoptesViewSet):
    queryset = Zone.objects.select_related("camera")
    serializer_class = ZoneSerializer
    write_role = Role.OPERATOR
    site_field = "camera__site"
    filterset_fields = ["camera", "kind", "enabled"]
    search_fields = ["name"]
