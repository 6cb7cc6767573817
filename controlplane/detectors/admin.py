"""Admin for registered ONNX detector models.

``DetectorModel.clean`` checks the file (under an allowed directory, an existing .onnx) and fills
in or verifies its SHA-256, so a bad path is reported on the field before anything is saved.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from controlplane.core.admin import JSON_FIELDS
from controlplane.detectors.models import DetectorModel


@admin.register(DetectorModel)
class DetectorModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "is_default", "onnx_path", "input_size", "class_count", "camera_count", "created_at"]
    list_filter = ["is_default"]
    search_fields = ["name", "onnx_path", "sha256"]
    ordering = ["name"]
    fields = ["name", "onnx_path", "sha256", "input_width", "input_height", "class_names", "is_default", "created_at"]
    readonly_fields = ["created_at"]
    formfield_overrides = JSON_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Counted in the list query (one query, sortable), not per row.
        counted: QuerySet[Any] = super().get_queryset(request).annotate(camera_total=Count("cameras"))
        return counted

    @admin.display(description="Input")
    def input_size(self, obj: DetectorModel) -> str:
        return f"{obj.input_width}x{obj.input_height}"

    @admin.display(description="Classes")
    def class_count(self, obj: DetectorModel) -> int:
        return len(obj.class_names) if isinstance(obj.class_names, list) else 0

    @admin.display(description="Cameras", ordering="camera_total")
    def camera_count(self, obj: Any) -> int:
        return int(obj.camera_total)
