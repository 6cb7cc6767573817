from __future__ import annotations

from typing import Any

import django_filters
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.alarms import media
from controlplane.alarms.api.serializers import (
    AlarmDeliverySerializer,
    AlarmSerializer,
    CloseSerializer,
    WebhookEndpointSerializer,
)
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


def _media_response(alarm: Alarm, kind: media.MediaKind) -> FileResponse:
    relative = alarm.snapshot_path if kind == "snapshot" else alarm.replay_path
    if not relative or (kind == "replay" and alarm.replay_status not in ("ready", "partial")):
        raise Http404(f"no {kind} for this alarm yet" if kind == "snapshot" or alarm.replay_status == "pending"
                      else f"no {kind} for this alarm: {alarm.replay_note or alarm.replay_status}")
    try:
        handle = media.absolute(relative).open("rb")
    except FileNotFoundError:
        raise Http404(f"the {kind} file is gone (retention?)") from None
    content_type = "image/jpeg" if kind == "snapshot" else "video/mp4"
    return FileResponse(handle, content_type=content_type, filename=f"alarm-{alarm.pk}.{'jpg' if kind == 'snapshot' else 'mp4'}")


MEDIA_RESPONSES = {
    (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY), (200, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY),
    404: None,
}


class AlarmViewSet(PanoptesReadOnlyViewSet):
    queryset = Alarm.objects.select_related("acknowledged_by", "closed_by").prefetch_related("history__user")
    serializer_class = AlarmSerializer
    site_field = "camera__site"
    filterset_class = AlarmFilter
    ordering_fields = ["event_time", "created_at", "severity"]
    action_roles = {"acknowledge": Role.OPERATOR, "close": Role.OPERATOR}

    @extend_schema(request=None, responses={200: AlarmSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: Any = None) -> Response:
        """Acknowledge a new alarm (409 if it is no longer new)."""
        alarm = self.get_object()
        if not alarm.acknowledge(request.user):
            return Response({"detail": f"alarm is {alarm.status}, not new"}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(alarm).data)

    @extend_schema(request=CloseSerializer, responses={200: AlarmSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: Any = None) -> Response:
        """Close a new or acknowledged alarm, with an optional note (409 if it is already closed)."""
        alarm = self.get_object()
        body = CloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not alarm.close(request.user, body.validated_data["note"]):
            return Response({"detail": "alarm is already closed"}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(alarm).data)

    @extend_schema(responses=MEDIA_RESPONSES)
    @action(detail=True, methods=["get"])
    def snapshot(self, request: Request, pk: Any = None) -> FileResponse:
        """The frame nearest the event, with the zone and the object's box drawn (JPEG)."""
        return _media_response(self.get_object(), "snapshot")

    @extend_schema(responses=MEDIA_RESPONSES)
    @action(detail=True, methods=["get"])
    def replay(self, request: Request, pk: Any = None) -> FileResponse:
        """The replay clip around the event (MP4), once ``replay_status`` is ready or partial."""
        return _media_response(self.get_object(), "replay")


def alarm_media(request: HttpRequest, token: str) -> FileResponse:
    """A signed, expiring link (in webhook payloads): no account needed, nothing but that one file."""
    try:
        alarm_id, kind = media.unsign(token)
    except signing.SignatureExpired:
        raise Http404("this link has expired") from None
    except signing.BadSignature:
        raise Http404("no such file") from None
    alarm = Alarm.objects.filter(pk=alarm_id).first()
    if alarm is None:
        raise Http404("no such file")
    return _media_response(alarm, kind)


class AlarmDeliveryViewSet(PanoptesReadOnlyViewSet):
    queryset = AlarmDelivery.objects.all()
    serializer_class = AlarmDeliverySerializer
    read_role = Role.OPERATOR
    site_field = "alarm__camera__site"
    filterset_fields = ["alarm", "endpoint", "channel", "state", "event_type"]
    action_roles = {"retry": Role.OPERATOR}

    @extend_schema(request=None, responses={200: AlarmDeliverySerializer, 409: None})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: Any = None) -> Response:
        """Send a dead-lettered delivery again from its first attempt (409 unless it is dead)."""
        delivery = self.get_object()
        if not delivery.retry():
            return Response({"detail": f"delivery is {delivery.state}, not dead"}, status=status.HTTP_409_CONFLICT)
        from workers.dispatch import send_delivery

        send_delivery(delivery.pk)
        return Response(self.get_serializer(delivery).data)
