"""Admin for sites and cameras.

Camera credentials never reach a page: the form offers write-only ``username``/``password``
fields and a "clear" box instead of the encrypted ``credentials`` column (DESIGN §11). Secrets in
the stream URL's query (``?password=...``) are shown masked to everyone, in the form too; a form
sent back with ``***`` keeps the stored values (``Camera.keep_masked_secrets``).
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, QueryDict

from analytics.config import mask_url, split_credentials
from controlplane.cameras.models import Camera, Site
from controlplane.core.admin import COMPACT_JSON, SiteScopedAdmin
from controlplane.zones.models import Zone

# --- sites ---------------------------------------------------------------------------------------


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "description", "camera_count"]
    search_fields = ["name", "description"]
    ordering = ["name"]
    filter_horizontal = ["members"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Counted in the list query (one query, sortable), not per row.
        counted: QuerySet[Any] = super().get_queryset(request).annotate(camera_total=Count("cameras"))
        return counted

    @admin.display(description="Cameras", ordering="camera_total")
    def camera_count(self, obj: Any) -> int:
        return int(obj.camera_total)


# --- cameras -------------------------------------------------------------------------------------


class CameraAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Camera fields plus write-only credentials.

    The password is never rendered (not even back after an error); an empty password keeps the
    stored one. Credentials typed into the stream URL are moved out of it by ``Camera.clean``,
    and stripped from the URL before an invalid form is shown again.
    """

    username = forms.CharField(required=False, max_length=200, label="User name")
    password = forms.CharField(
        required=False,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown. Leave empty to keep the current password.",
    )
    clear_credentials = forms.BooleanField(
        required=False, label="Clear credentials", help_text="Remove the stored user name and password."
    )

    class Meta:
        model = Camera
        fields = [
            "name", "stream_url", "enabled", "site", "location", "tags", "detector_model", "segment_seconds",
            "detect_fps", "detect_width", "detect_height", "retention_hours",
        ]
        help_texts = {
            "stream_url": "rtsp://host:554/path; credentials typed here (user:pass@) are moved to the fields below.",
            "tags": 'A JSON list of strings, e.g. ["entrance", "outdoor"].',
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._new_credentials: str | None = None  # None: leave the stored credentials as they are
        current = self.instance.get_credentials() if self.instance.pk else None
        if current is not None:
            self.fields["username"].initial = current[0]
        if self.instance.pk:
            self.initial["stream_url"] = mask_url(self.instance.stream_url)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        username: str = cleaned.get("username") or ""
        password: str = cleaned.get("password") or ""
        in_url = split_credentials(cleaned.get("stream_url") or "") is not None
        typed = bool(password) or "username" in self.changed_data
        if cleaned.get("clear_credentials"):
            if typed or in_url:
                raise forms.ValidationError("Either clear the credentials or give new ones, not both.")
            self._new_credentials = ""
        elif in_url and typed:
            raise forms.ValidationError(
                "Give the credentials either in the stream URL or in the user name and password fields, not both."
            )
        elif typed:
            current = self.instance.get_credentials() if self.instance.pk else None
            kept_password = current[1] if current else ""
            self._new_credentials = Camera.credentials_for(username, password or kept_password)
        return cleaned

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self.errors:
            self._strip_credentials_from_data()

    def _strip_credentials_from_data(self) -> None:
        """Before the form is shown again with errors, take ``user:pass@`` out of the echoed URL."""
        key = self.add_prefix("stream_url")
        split = split_credentials(self.data.get(key) or "")
        if split is None:
            return
        url, username, _password = split
        # A QueryDict in a request (copied: it is immutable), a plain dict when built in code.
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        data[key] = url
        data[self.add_prefix("username")] = username
        self.data = data

    def save(self, commit: bool = True) -> Camera:
        if self._new_credentials is not None:
            self.instance.credentials = self._new_credentials
        return super().save(commit=commit)  # type: ignore[no-any-return]


class ZoneInline(admin.TabularInline):  # type: ignore[type-arg]
    """The camera's zones at a glance; bindings are edited on each zone's own page (its link)."""

    model = Zone
    extra = 0
    fields = ["name", "kind", "points", "direction", "enabled"]
    show_change_link = True
    formfield_overrides = COMPACT_JSON

    # Operators may change zones but not cameras: on a camera page they could not save them, so
    # the inline follows the camera's permission (they edit zones on the Zone admin).
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and request.user.has_perm("cameras.change_camera")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and request.user.has_perm("cameras.change_camera")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and request.user.has_perm("cameras.change_camera")


@admin.register(Camera)
class CameraAdmin(SiteScopedAdmin):
    form = CameraAdminForm
    site_field = "site"
    list_display = [
        "name", "masked_url", "enabled", "has_credentials", "site", "location", "detector_model", "zone_count",
        "epoch", "updated_at",
    ]
    list_filter = ["enabled", "site", "detector_model"]
    list_select_related = ["site", "detector_model"]
    # Not the stream URL: a search is an oracle for the secrets in its query, a letter at a time.
    search_fields = ["name", "location", "site__name"]
    ordering = ["name"]
    readonly_fields = ["masked_url", "has_credentials", "epoch", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "stream_url", "masked_url", "enabled", "site", "location", "tags"]}),
        ("Credentials", {"fields": ["has_credentials", "username", "password", "clear_credentials"]}),
        ("Recording and detection", {
            "fields": ["detector_model", "segment_seconds", "detect_fps", "detect_width", "detect_height",
                       "retention_hours"],
        }),
        ("Ownership and history", {"fields": ["epoch", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [ZoneInline]
    actions = ["enable_cameras", "disable_cameras"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Counted in the list query (one query, sortable), not per row.
        counted: QuerySet[Any] = super().get_queryset(request).annotate(zone_total=Count("zones"))
        return counted

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """Who cannot edit the camera sees the masked URL only (a read-only field shows the raw value)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        hidden = {"stream_url", "username", "password", "clear_credentials"}
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]}) for name, opts in fieldsets]

    @admin.display(description="Stream URL")
    def masked_url(self, obj: Camera) -> str:
        return obj.masked_url if obj.pk else "-"

    @admin.display(description="Credentials", boolean=True)
    def has_credentials(self, obj: Camera) -> bool:
        return obj.has_credentials

    @admin.display(description="Zones", ordering="zone_total")
    def zone_count(self, obj: Any) -> int:
        return int(obj.zone_total)

    @admin.action(description="Enable selected cameras", permissions=["change"])
    def enable_cameras(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description="Disable selected cameras", permissions=["change"])
    def disable_cameras(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Camera], *, enabled: bool) -> None:
        # save() per camera rather than update(): the save signal records the configuration
        # revision; one transaction makes it one revision for the whole selection.
        with transaction.atomic():
            changed = 0
            for camera in queryset.filter(enabled=not enabled):
                camera.enabled = enabled
                camera.save(update_fields=["enabled", "updated_at"])
                changed += 1
        state = "enabled" if enabled else "disabled"
        self.message_user(request, f"{changed} camera(s) {state}.", messages.SUCCESS)
