"""Small helpers every Panoptes admin.py shares."""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from controlplane.core.parsers import DepthLimitedJSONFormField
from controlplane.core.roles import scope_to_sites

#: JSON form fields with the depth limit of the API (controlplane.core.parsers): every admin
#: that edits a JSON field uses these or COMPACT_JSON (tests/test_security_limits.py checks).
JSON_FIELDS: dict[type[models.Field[Any, Any]], dict[str, Any]] = {models.JSONField: {"form_class": DepthLimitedJSONFormField}}
#: The same in smaller text areas, so points, params and schedules fit in inline rows.
COMPACT_JSON: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.JSONField: {"form_class": DepthLimitedJSONFormField, "widget": forms.Textarea(attrs={"rows": 3, "cols": 50})}
}


def pretty_json(value: Any) -> SafeString:
    """JSON indented in a <pre>, for read-only views of snapshots, schemas and alarm details."""
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


class SiteScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Lists and foreign-key choices limited to the user's sites, as the API does (DESIGN §11).

    ``site_field`` is the path from the model to its Site; ``scoped_foreign_keys`` maps a foreign
    key of the form to the path from the related model to its Site.
    """

    site_field: str | None = None
    scoped_foreign_keys: dict[str, str] = {}
    formfield_overrides = JSON_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_to_sites(super().get_queryset(request), request.user, self.site_field)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        path = self.scoped_foreign_keys.get(db_field.name)
        if field is not None and path is not None:
            field.queryset = scope_to_sites(field.queryset, request.user, path)  # type: ignore[arg-type]
        return field


class ReadOnlyAdminMixin:
    """Rows people look at but never add, edit or delete here (catalog, revisions, outbox)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


from controlplane.core import admin_accounts  # noqa: E402,F401  (registers the accounts' admin)
