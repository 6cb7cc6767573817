from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from controlplane.alarms.api.views import alarm_media

admin.site.site_header = "Panoptes"
admin.site.site_title = "Panoptes"
admin.site.index_title = "Control panel"

handler404 = "controlplane.core.api.not_found"  # JSON under /api/, as the schema documents

urlpatterns = [
    path("", RedirectView.as_view(url="/panel/", permanent=False)),
    path("panel/", include("controlplane.panel.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("controlplane.api_urls")),
    path("media/alarms/<str:token>", alarm_media, name="alarm-media"),
]
