"""The admin's accounts: login, users, groups and API tokens (DESIGN §11).

- The login form is behind the login throttle (controlplane.core.throttling).
- Only superusers see or grant superuser status. Others grant only groups and permissions they
  hold themselves, and change or delete only accounts and groups that hold nothing more
  (``roles.manageable_users``): setting a stronger account's password would be a way up.
- API tokens show a masked prefix, never their key, except once on the page that makes one;
  a token is never moved to another user.

Imported by controlplane.core.admin (Django discovers only ``admin.py``).
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from controlplane.core.models import ApiToken, masked_key
from controlplane.core.roles import held_permissions, manageable_users, may_manage
from controlplane.core.throttling import locked_for, lockout_message

User = get_user_model()


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form; a locked-out user name or address is told so, and for how long."""

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            wait = locked_for(self.request)
            if wait:
                raise ValidationError(lockout_message(wait), code="locked") from None
            raise


admin.site.login_form = ThrottledAdminAuthenticationForm


# --- users and groups ----------------------------------------------------------------------------


def _is_superuser(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _grantable_groups(request: HttpRequest) -> QuerySet[Group]:
    """Groups whose every permission the requesting user holds."""
    if _is_superuser(request):
        return Group.objects.all()
    lacking = Permission.objects.exclude(pk__in=held_permissions(request.user))
    return Group.objects.exclude(permissions__in=lacking)


def _grantable_permissions(request: HttpRequest) -> QuerySet[Permission]:
    if _is_superuser(request):
        return Permission.objects.all()
    return Permission.objects.filter(pk__in=held_permissions(request.user))


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class PanoptesUserAdmin(UserAdmin):  # type: ignore[type-arg]
    """Django's user admin, without ways up for admins who are not superusers."""

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if _is_superuser(request):
            return fieldsets
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f != "is_superuser"]})
                for name, opts in fieldsets]

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = super().get_list_filter(request)
        return filters if _is_superuser(request) else [f for f in filters if f != "is_superuser"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            kwargs["queryset"] = _grantable_groups(request)
        elif db_field.name == "user_permissions":
            kwargs["queryset"] = _grantable_permissions(request).select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or may_manage(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or may_manage(request.user, obj))


@admin.register(Group)
class PanoptesGroupAdmin(GroupAdmin):
    """Django's group admin; only permissions the requesting user holds can be granted."""

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest | None = None, **kwargs: Any) -> Any:
        assert request is not None  # the admin always passes it
        if db_field.name == "permissions":
            kwargs["queryset"] = _grantable_permissions(request).select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _holds_all_of(self, request: HttpRequest, group: Group) -> bool:
        return _grantable_groups(request).filter(pk=group.pk).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or self._holds_all_of(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or self._holds_all_of(request, obj))


# --- API tokens --------------------------------------------------------------------------------

if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)  # DRF's lists every key in clear


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    """Tokens by user, with a masked prefix; the key appears once, on the page that makes it."""

    list_display = ("prefix", "user", "created")

    @admin.display(description="Key")
    def prefix(self, obj: ApiToken) -> str:
        return masked_key(obj.key)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = manageable_users(request.user).order_by(User.USERNAME_FIELD)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token stays with its user: moving one to a stronger user would be a way up

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or may_manage(request.user, obj.user))

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        """The new key, this once, on a page no cache keeps (not in a message: those may sit in a cookie)."""
        response = TemplateResponse(request, "admin/panoptes/token_created.html", {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "changelist_url": reverse("admin:core_apitoken_changelist", current_app=self.admin_site.name),
        })
        add_never_cache_headers(response)
        return response
