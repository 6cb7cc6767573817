from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.cameras.api.serializers import CameraSerializer, CameraStatusSerializer, SegmentSerializer, SiteSerializer
from controlplane.cameras.models import Camera, Segment, Site
from controlplane.core.api import PanoptesReadOnlyViewSet, PanoptesViewSet
from controlplane.core.redis import client
from workers.status import read_status


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

    @extend_schema(responses=CameraStatusSerializer)
    @action(detail=True, methods=["get"])
    def status(self, request: Request, pk: Any = None) -> Response:
        """Live capture status: state (connecting, streaming, backoff, stopped, unknown), owner, fps, errors."""
        camera = self.get_object()
        return Response({"camera": camera.pk, **read_status(client(), [camera.pk])[camera.pk]})

    @extend_schema(responses=CameraStatusSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="status", pagination_class=None)  # one list, not pages
    def status_list(self, request: Request) -> Response:
        """Live capture status of every camera in scope."""
        ids = list(self.filter_queryset(self.get_queryset()).values_list("pk", flat=True))
        statuses = read_status(client(), ids)
        return Response([{"camera": cid, **statuses[cid]} for cid in ids])

    @extend_schema(responses={(200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY), 404: None})
    @action(detail=True, methods=["get"])
    def snapshot(self, request: Request, pk: Any = None) -> FileResponse:
        """The latest picture of the camera (JPEG at most 640 px wide, from a keyframe kept every
        ``PANOPTES_SNAPSHOT_SECONDS`` while it records, decoded when asked for)."""
        from workers.snapshots import SnapshotUnavailable, latest_picture  # PyAV and OpenCV: loaded on first use

        try:
            return FileResponse(latest_picture(self.get_object().pk).open("rb"), content_type="image/jpeg")
        except (SnapshotUnavailable, FileNotFoundError) as exc:
            raise Http404(str(exc) if isinstance(exc, SnapshotUnavailable) else "no picture yet") from None


class SegmentViewSet(PanoptesReadOnlyViewSet):
    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    site_field = "camera__site"
    filterset_fields = {"camera": ["exact"], "start_time": ["gte", "lt"], "discontinuity": ["exact"]}
    ordering_fields = ["start_time", "seq"]
