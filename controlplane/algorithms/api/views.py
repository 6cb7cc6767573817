from __future__ import annotations

from rest_framework import viewsets

from controlplane.algorithms.api.serializers import AlgorithmSerializer, BindingSerializer
from controlplane.algorithms.models import Algorithm, AlgorithmBinding
from controlplane.core.api import PanoptesViewSet
from controlplane.core.choices import Role


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
