"""Admin for the algorithm catalog (read-only) and the bindings of algorithms to zones."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from controlplane.algorithms.models import Algorithm, AlgorithmBinding
from controlplane.core.admin import COMPACT_JSON, ReadOnlyAdminMixin, SiteScopedAdmin, pretty_json


def params_summary(algorithm: Algorithm) -> str:
    """``slug: name=default, ...``: the params an algorithm takes, for help texts."""
    properties: dict[str, Any] = algorithm.params_schema.get("properties", {})
    params = ", ".join(f"{name}={spec.get('default', '(required)')}" for name, spec in properties.items())
    return f"{algorithm.slug}: {params or 'no params'}"


def params_table(algorithm: Algorithm) -> SafeString:
    """The params an algorithm takes as an HTML table: name, type, default, range, description."""
    properties: dict[str, Any] = algorithm.params_schema.get("properties", {})
    if not properties:
        return format_html("{}", "This algorithm takes no params.")
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (name, spec.get("type", ""), spec.get("default", "(required)"), _range(spec), spec.get("description", ""))
            for name, spec in properties.items()
        ),
    )
    return format_html(
        "<table><thead><tr><th>Name</th><th>Type</th><th>Default</th><th>Range</th><th>Description</th>"
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _range(spec: dict[str, Any]) -> str:
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is None and high is None:
        return ""
    return f"{'' if low is None else low} .. {'' if high is None else high}"


@admin.register(Algorithm)
class AlgorithmAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The catalog comes from analytics.catalog through a data migration: editing it here would be
    overwritten by the next migrate, so the admin only shows it."""

    list_display = ["slug", "name", "zone_kinds", "target_classes", "binding_count"]
    search_fields = ["slug", "name", "description"]
    ordering = ["slug"]
    fields = readonly_fields = (
        "slug", "name", "description", "zone_kinds", "target_classes", "params", "params_schema_pretty",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Counted in the list query (one query, sortable), not per row.
        counted: QuerySet[Any] = super().get_queryset(request).annotate(binding_total=Count("bindings"))
        return counted

    @admin.display(description="Bindings", ordering="binding_total")
    def binding_count(self, obj: Any) -> int:
        return int(obj.binding_total)

    @admin.display(description="Params")
    def params(self, obj: Algorithm) -> SafeString:
        return params_table(obj)

    @admin.display(description="Params schema (JSON Schema)")
    def params_schema_pretty(self, obj: Algorithm) -> SafeString:
        return pretty_json(obj.params_schema)


class AlgorithmBindingForm(forms.ModelForm):  # type: ignore[type-arg]
    """Binding form that names each algorithm's params, and reports a zone-kind mismatch on the
    ``algorithm`` field when ``zone`` is not shown (the inline on a zone page, where the zone may
    also be new or changing kind in the same submit)."""

    class Meta:
        model = AlgorithmBinding
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "params" in self.fields:
            known = "; ".join(params_summary(a) for a in Algorithm.objects.order_by("slug"))
            self.fields["params"].help_text = (
                f"A JSON object; params left out take their defaults. Known params: {known}."
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        zone, algorithm = cleaned.get("zone"), cleaned.get("algorithm")
        zone_field = self.fields.get("zone")
        zone_hidden = zone_field is None or zone_field.widget.is_hidden
        if zone is not None and algorithm is not None and zone_hidden and zone.kind not in algorithm.zone_kinds:
            self.add_error(
                "algorithm",
                f"{algorithm.slug} needs a zone of kind {' or '.join(algorithm.zone_kinds)}, not {zone.kind}",
            )
        return cleaned

    def _post_clean(self) -> None:
        # The model's own errors on a hidden zone (a camera's binding limit) would not be shown.
        super()._post_clean()  # type: ignore[misc]  # a private hook the stubs leave out
        zone_field = self.fields.get("zone")
        if zone_field is not None and zone_field.widget.is_hidden and "zone" in self.errors:
            self.add_error(None, self.errors.pop("zone"))


@admin.register(AlgorithmBinding)
class AlgorithmBindingAdmin(SiteScopedAdmin):
    form = AlgorithmBindingForm
    site_field = "zone__camera__site"
    scoped_foreign_keys = {"zone": "camera__site"}
    list_display = ["__str__", "algorithm", "zone", "camera", "severity", "enabled", "min_score", "cooldown_seconds", "updated_at"]
    list_filter = ["algorithm", "severity", "enabled", ("zone__camera", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["algorithm", "zone", "zone__camera"]
    search_fields = ["algorithm__slug", "algorithm__name", "zone__name", "zone__camera__name"]
    ordering = ["zone__camera__name", "zone__name", "id"]
    fieldsets = [
        (None, {"fields": ["zone", "algorithm", "enabled", "severity"]}),
        ("Rule", {"fields": ["params", "target_classes", "min_score", "cooldown_seconds", "schedule"]}),
        ("Algorithm reference", {"fields": ["algorithm_params"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["algorithm_params", "created_at", "updated_at"]
    formfield_overrides = COMPACT_JSON

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "zone":
            kwargs["queryset"] = db_field.related_model.objects.select_related("camera")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Camera", ordering="zone__camera__name")
    def camera(self, obj: AlgorithmBinding) -> Any:
        return obj.zone.camera

    @admin.display(description="Params of the algorithm")
    def algorithm_params(self, obj: AlgorithmBinding) -> SafeString | str:
        if not obj.algorithm_id:
            return "Choose an algorithm and save to see its params here."
        return params_table(obj.algorithm)
