from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.alarms.api.serializers import AlarmDeliverySerializer, AlarmSerializer, WebhookEndpointSerializer
from controlplane.alarms.models import Alarm, AlarmDelivery, WebhookEndpoint
from controlplane.core.api import PanoptesReadOnlyViewSet, PanoptesViewSet
from controlplane.core.choices import Role


class WebhookEndpointViewSet(PanoptesViewSet):
    queryset = WebhookEndpoint.objects.prefetch_related("cameras")
    serializer_class = WebhookEndpointSerializer
    read_role = Role.OPERATOR
    filterset_fields = ["enabled"]
    search_fields = ["name", "url"]


class AlarmFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="event_time", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="event_time", lookup_expr="lt")

    class Meta:
        model = Alarm
        fields = ["camera", "zone", "binding", "algorithm", "severity", "status"]


class AlarmViewSet(PanoptesReadOnlyViewSet):
    queryset = Alarm.objects.select_related("acknowledged_by")
    serializer_class = AlarmSerializer
    site_field = "camera__site"
    filterset_class = AlarmFilter
    ordering_fields = ["event_time", "created_at", "severity"]
    action_roles = {"acknowledge": Role.OPERATOR}

    @extend_schema(request=None, responses={200: AlarmSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: Any = None) -> Response:
        """Acknowledge a new alarm (409 if it is no longer new)."""
        alarm = self.get_object()
        if not alarm.acknowledge(request.user):
            return Response({"detail": f"alarm is {alarm.status}, not new"}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(alarm).data)


class AlarmDeliveryViewSet(PanoptesReadOnlyViewSet):
    queryset = AlarmDelivery.objects.all()
    serializer_class = AlarmDeliverySerializer
    read_role = Role.OPERATOR
    site_field = "alarm__camera__site"
    filterset_fields = ["alarm", "endpoint", "state", "event_type"]
