"""Admin for zones, with the zone's algorithm bindings edited in place.

Point validation lives in ``Zone.clean``; the model form runs it, so its message appears on the
``points`` field exactly as the API reports it.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from controlplane.algorithms.admin import AlgorithmBindingForm
from controlplane.algorithms.models import AlgorithmBinding
from controlplane.core.admin import COMPACT_JSON, SiteScopedAdmin
from controlplane.zones.models import Zone


class AlgorithmBindingInline(admin.StackedInline):  # type: ignore[type-arg]
    """The algorithms bound to this zone; params left out get the algorithm's defaults on save."""

    model = AlgorithmBinding
    form = AlgorithmBindingForm
    extra = 0
    fields = [
        ("algorithm", "enabled", "severity"),
        "params",
        ("target_classes", "min_score", "cooldown_seconds"),
        "schedule",
    ]
    formfield_overrides = COMPACT_JSON
    show_change_link = True


@admin.register(Zone)
class ZoneAdmin(SiteScopedAdmin):
    site_field = "camera__site"
    scoped_foreign_keys = {"camera": "site"}
    list_display = ["name", "camera", "kind", "direction", "enabled", "binding_count", "updated_at"]
    list_filter = ["kind", "enabled", "camera"]
    list_select_related = ["camera"]
    search_fields = ["name", "camera__name"]
    ordering = ["camera__name", "name"]
    fields = ["camera", "name", "kind", "points", "direction", "enabled", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [AlgorithmBindingInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Counted in the list query (one query, sortable), not per row.
        counted: QuerySet[Any] = super().get_queryset(request).annotate(binding_total=Count("bindings"))
        return counted

    @admin.display(description="Bindings", ordering="binding_total")
    def binding_count(self, obj: Any) -> int:
        return int(obj.binding_total)
