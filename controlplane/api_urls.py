"""/api/v1/: every resource of every app, one router."""
from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from controlplane.alarms.api.views import AlarmDeliveryViewSet, AlarmViewSet, WebhookEndpointViewSet
from controlplane.algorithms.api.views import AlgorithmViewSet, BindingViewSet
from controlplane.cameras.api.views import CameraViewSet, SegmentViewSet, SiteViewSet
from controlplane.configs.api.views import RevisionViewSet
from controlplane.core.api_auth import ObtainTokenView
from controlplane.core.api_users import UserViewSet
from controlplane.detectors.api.views import DetectorModelViewSet
from controlplane.zones.api.views import ZoneViewSet

router = DefaultRouter()
router.register("sites", SiteViewSet)
router.register("cameras", CameraViewSet)
router.register("segments", SegmentViewSet)
router.register("zones", ZoneViewSet)
router.register("algorithms", AlgorithmViewSet)
router.register("bindings", BindingViewSet)
router.register("models", DetectorModelViewSet)
router.register("endpoints", WebhookEndpointViewSet)
router.register("alarms", AlarmViewSet)
router.register("deliveries", AlarmDeliveryViewSet)
router.register("revisions", RevisionViewSet)
router.register("users", UserViewSet)

urlpatterns = [
    path("", include(router.urls)),
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    # The schema describes the API's shape, not its data, so it is public (integrators and
    # schemathesis read it before they have a token); every data endpoint needs authentication.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]), name="api-docs"),
]
