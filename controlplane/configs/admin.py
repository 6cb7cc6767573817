"""Admin for configuration revisions: a read-only history, and rollback for admins (DESIGN §7).

Revisions are never edited (rolling back creates a new one), so the admin cannot add, change or
delete them. The snapshot is shown without camera credentials (they are encrypted there, but
even ciphertext does not belong on a page) and with secrets in stream URLs masked. Users limited
to some sites see no revision: a revision describes every site.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString

from controlplane.configs.actions import restore
from controlplane.configs.models import ConfigRevision
from controlplane.core.admin import ReadOnlyAdminMixin, pretty_json
from controlplane.core.choices import Role
from controlplane.core.roles import has_role, is_site_scoped

#: Template adding a one-click button for an admin action on the change page (roll back).
CHANGE_FORM_WITH_ACTION = "admin/panoptes/change_form_with_action.html"


@admin.register(ConfigRevision)
class ConfigRevisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    change_form_template = CHANGE_FORM_WITH_ACTION
    list_display = ["version", "created_at", "author_name", "comment", "restored_from", "camera_count"]
    list_display_links = ["version"]
    list_filter = ["created_at", "author_name"]
    list_select_related = ["restored_from"]
    search_fields = ["comment", "author_name"]
    ordering = ["-version"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "version", "created_at", "author_name", "comment", "restored_from", "content_hash", "snapshot_pretty",
    )
    actions = ["roll_back"]

    def has_rollback_permission(self, request: HttpRequest) -> bool:
        """Rolling back changes every camera's configuration: admins only, as in the API."""
        return has_role(request.user, Role.ADMIN)

    @admin.display(description="Cameras")
    def camera_count(self, obj: ConfigRevision) -> int:
        return len(obj.snapshot.get("cameras") or [])

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and not is_site_scoped(request.user)

    @admin.display(description="Snapshot (camera credentials left out, URL secrets masked)")
    def snapshot_pretty(self, obj: ConfigRevision) -> SafeString:
        return pretty_json(obj.shown_snapshot())

    @admin.action(description="Roll back to this revision", permissions=["rollback"])
    def roll_back(self, request: HttpRequest, queryset: Any) -> None:
        if not self.has_rollback_permission(request):  # the action list already hides it; belt and braces
            messages.error(request, "Only admins may roll back the configuration.")
            return
        revisions = list(queryset[:2])
        if len(revisions) != 1:
            messages.error(request, "Select exactly one revision to roll back to.")
            return
        revision = revisions[0]
        try:
            new = restore(revision, request.user)
        except (ValidationError, DatabaseError, KeyError) as exc:
            # restore() is atomic: nothing changed. KeyError: the revision names an algorithm no
            # longer in the catalog; DatabaseError: e.g. a name now used by another camera.
            messages.error(request, f"Could not roll back to v{revision.version}: {exc}")
            return
        messages.success(request, f"Rolled back to v{revision.version}: the configuration is now v{new.version}.")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        if self.has_rollback_permission(request):
            extra["object_action"] = {"name": "roll_back", "label": "Roll back to this revision"}
        return super().change_view(request, object_id, form_url, extra)
