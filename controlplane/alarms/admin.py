"""Admin for alarms, their webhook deliveries, and the webhook endpoints they go to.

Alarms and deliveries are written by the workers, so the admin shows them read-only; what people
do with an alarm is acknowledge it. Endpoint secrets are write-only, like camera credentials.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from analytics.config import mask_url
from controlplane.alarms.choices import AlarmStatus
from controlplane.alarms.models import Alarm, AlarmDelivery, AlarmHistory, WebhookEndpoint
from controlplane.algorithms.models import Algorithm
from controlplane.core.admin import ReadOnlyAdminMixin, SiteScopedAdmin, pretty_json
from controlplane.core.choices import Role
from controlplane.core.roles import has_role

#: Template adding a one-click button for an admin action on the change page (acknowledge).
CHANGE_FORM_WITH_ACTION = "admin/panoptes/change_form_with_action.html"

# Minimum length of a new webhook secret: the same rule as the API's WebhookEndpointSerializer.
SECRET_MIN_LENGTH = 16


# --- webhook endpoints ---------------------------------------------------------------------------


def _https_by_default(db_field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    """A URL typed without a scheme becomes https:// (Django 6's default, asked for explicitly)."""
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class WebhookEndpointAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """The secret is write-only: never rendered, and an empty field keeps the stored one."""

    secret = forms.CharField(
        required=False,
        strip=False,
        min_length=SECRET_MIN_LENGTH,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text=f"Shared secret for the webhook signature (at least {SECRET_MIN_LENGTH} characters). "
        "Stored encrypted and never shown; leave empty to keep the current one.",
    )
    algorithms = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only alarms of these algorithms are sent; none ticked means all.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "secret", "enabled", "cameras", "algorithms", "min_severity"]
        help_texts = {"cameras": "Only alarms of these cameras are sent; none chosen means all."}
        formfield_callback = _https_by_default

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("secret", None)  # the plain secret must not even sit in the form's initial data
        if not self.instance.pk:
            self.fields["secret"].required = True
            self.fields["secret"].help_text = (
                f"Shared secret for the webhook signature (at least {SECRET_MIN_LENGTH} characters); stored encrypted."
            )
        slugs = list(Algorithm.objects.order_by("slug").values_list("slug", "name"))
        known = {slug for slug, _ in slugs}
        kept = [(s, f"{s} (not in the catalog)") for s in self.instance.algorithms or [] if s not in known]
        algorithms = self.fields["algorithms"]
        assert isinstance(algorithms, forms.MultipleChoiceField)
        algorithms.choices = slugs + kept

    def clean_secret(self) -> str:
        secret: str = self.cleaned_data.get("secret") or ""
        return secret or (self.instance.secret if self.instance.pk else "")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WebhookEndpointAdminForm
    list_display = ["name", "masked_url", "enabled", "min_severity", "camera_count", "algorithm_list", "created_at"]
    list_filter = ["enabled", "min_severity"]
    search_fields = ["name", "url"]
    ordering = ["name"]
    filter_horizontal = ["cameras"]
    readonly_fields = ["created_at"]

    def formfield_for_dbfield(self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Counted in the list query (one query, sortable), not per row.
        counted: QuerySet[Any] = super().get_queryset(request).annotate(camera_total=Count("cameras"))
        return counted

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # As in the API: endpoints are operator business; viewers do not see where alarms go.
        return super().has_view_permission(request, obj) and has_role(request.user, Role.OPERATOR)

    @admin.display(description="URL", ordering="url")
    def masked_url(self, obj: WebhookEndpoint) -> str:
        return mask_url(obj.url)

    @admin.display(description="Cameras", ordering="camera_total")
    def camera_count(self, obj: Any) -> str:
        return str(obj.camera_total) if obj.camera_total else "all"

    @admin.display(description="Algorithms")
    def algorithm_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.algorithms) if obj.algorithms else "all"


# --- alarms --------------------------------------------------------------------------------------

DELIVERY_FIELDS = (
    "channel", "endpoint", "event_type", "state", "attempts", "last_status_code", "next_attempt_at", "delivered_at",
    "response_excerpt", "created_at",
)


class ReadOnlyDeliveryMixin(ReadOnlyAdminMixin):
    """Deliveries are the workers' outbox: people look at them, only workers write them."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # As in the API: deliveries name endpoints, which are operator business.
        return super().has_view_permission(request, obj) and has_role(request.user, Role.OPERATOR)  # type: ignore[misc]

    @admin.display(description="Last response")
    def response_excerpt(self, obj: AlarmDelivery) -> str:
        return Truncator(obj.last_response).chars(200)


class AlarmDeliveryInline(ReadOnlyDeliveryMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = AlarmDelivery
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    extra = 0
    show_change_link = True


ALARM_FIELDS = (
    "camera", "zone", "zone_name", "binding", "algorithm", "severity", "status", "event_time", "object_class",
    "score", "media_links", "replay_status", "replay_note", "replay_seconds", "details_pretty", "dedup_key",
    "created_at", "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "close_note",
)


class AlarmHistoryInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = AlarmHistory
    fields = readonly_fields = ("at", "action", "from_status", "to_status", "user", "note")
    extra = 0


@admin.register(Alarm)
class AlarmAdmin(SiteScopedAdmin):
    """Alarms are read-only records; the change permission (operators) only allows acknowledging."""

    site_field = "camera__site"
    change_form_template = CHANGE_FORM_WITH_ACTION
    list_display = [
        "event_time", "camera", "algorithm", "zone_name", "severity", "status", "object_class", "score",
        "acknowledged_by",
    ]
    list_filter = ["status", "severity", "algorithm", ("camera", admin.RelatedOnlyFieldListFilter), "event_time"]
    list_select_related = ["camera", "acknowledged_by"]
    search_fields = ["algorithm", "zone_name", "camera__name", "object_class", "dedup_key"]
    ordering = ["-event_time", "-id"]
    date_hierarchy = "event_time"
    fields = ALARM_FIELDS
    readonly_fields = ALARM_FIELDS
    inlines = [AlarmHistoryInline, AlarmDeliveryInline]
    actions = ["acknowledge_alarms", "close_alarms"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Details")
    def details_pretty(self, obj: Alarm) -> SafeString:
        return pretty_json(obj.details)

    @admin.display(description="Media")
    def media_links(self, obj: Alarm) -> SafeString:
        links = []
        if obj.snapshot_path:
            links.append(format_html('<a href="{}">snapshot</a>', reverse("alarm-snapshot", args=[obj.pk])))
        if obj.replay_path:
            links.append(format_html('<a href="{}">replay</a>', reverse("alarm-replay", args=[obj.pk])))
        return format_html_join(" · ", "{}", ((link,) for link in links)) if links else mark_safe("—")

    @admin.action(description="Close (no note; use the API to add one)", permissions=["change"])
    def close_alarms(self, request: HttpRequest, queryset: QuerySet[Alarm]) -> None:
        done = sum(1 for alarm in queryset if alarm.close(request.user))
        if done:
            self.message_user(request, f"Closed {done} alarm(s).", messages.SUCCESS)
        if queryset.count() - done:
            self.message_user(request, f"{queryset.count() - done} alarm(s) were already closed.", messages.WARNING)

    @admin.action(description="Acknowledge", permissions=["change"])
    def acknowledge_alarms(self, request: HttpRequest, queryset: QuerySet[Alarm]) -> None:
        done = sum(1 for alarm in queryset if alarm.acknowledge(request.user))
        skipped = queryset.count() - done
        if done:
            self.message_user(request, f"Acknowledged {done} alarm(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} alarm(s) were not new and were left as they are.", messages.WARNING)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        alarm = self.get_object(request, unquote(object_id))
        extra: dict[str, Any] = {"show_save": False, "show_save_and_continue": False, **(extra_context or {})}
        if alarm is not None and alarm.status == AlarmStatus.NEW and self.has_change_permission(request, alarm):
            extra["object_action"] = {"name": "acknowledge_alarms", "label": "Acknowledge this alarm"}
        return super().change_view(request, object_id, form_url, extra)


@admin.register(AlarmDelivery)
class AlarmDeliveryAdmin(ReadOnlyDeliveryMixin, SiteScopedAdmin):
    site_field = "alarm__camera__site"
    list_display = [
        "created_at", "alarm", "channel", "endpoint", "event_type", "state", "attempts", "last_status_code", "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["state", "event_type", "channel", "endpoint"]
    actions = ["retry_deliveries"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.OPERATOR)

    @admin.action(description="Retry dead-lettered deliveries", permissions=["retry"])
    def retry_deliveries(self, request: HttpRequest, queryset: QuerySet[AlarmDelivery]) -> None:
        from workers.dispatch import send_delivery

        retried = [d for d in queryset if d.retry()]
        for delivery in retried:
            send_delivery(delivery.pk)
        if retried:
            self.message_user(request, f"Retrying {len(retried)} delivery(ies).", messages.SUCCESS)
        if queryset.count() - len(retried):
            self.message_user(request, f"{queryset.count() - len(retried)} were not dead-lettered and were left as they are.",
                              messages.WARNING)
    list_select_related = ["alarm", "alarm__camera", "endpoint"]
    search_fields = ["endpoint__name", "alarm__camera__name", "alarm__algorithm", "alarm__dedup_key"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ("alarm", *DELIVERY_FIELDS[:-2], "last_response", "created_at")
