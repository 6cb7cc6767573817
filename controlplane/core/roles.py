"""Who may do what: a user's role comes from their groups; scope comes from their sites."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from controlplane.core.choices import Role


def role_of(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The highest role the user holds, or None (inactive, anonymous, or in no role group)."""
    if not user.is_authenticated or not user.is_active:
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER):
        if role.value in names:
            return role
    return None


def has_role(user: Any, needed: Role) -> bool:
    return Role.rank(role_of(user)) >= Role.rank(needed)


def is_site_scoped(user: Any) -> bool:
    """Whether the user sees only some sites: a member of a site who is not an admin.

    Used where data spans every site and cannot be cut per site (configuration revisions).
    """
    if not user.is_authenticated or role_of(user) == Role.ADMIN:
        return False
    return bool(user.panoptes_sites.exists())


def held_permissions(user: Any) -> set[int]:
    """Ids of the permissions a user holds itself or through its groups (active or not)."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    return set(Permission.objects.filter(Q(user=user) | Q(group__user=user)).values_list("pk", flat=True))


def manageable_users(editor: Any) -> QuerySet[Any]:
    """The accounts ``editor`` may change, delete or make tokens for.

    Superusers manage everyone. Anyone else manages only accounts that are not superusers and
    hold no permission the editor lacks: setting an account's password (or minting its token)
    hands its powers over, so managing a stronger account would be a way up. Used for the token
    admin's choice of users; ``may_manage`` is the same rule for one account (the user admin and
    the API's users endpoint).
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    users = get_user_model()._default_manager.all()
    if editor.is_active and editor.is_superuser:
        return users
    lacking = Permission.objects.exclude(pk__in=held_permissions(editor))
    return users.filter(is_superuser=False).exclude(user_permissions__in=lacking).exclude(groups__permissions__in=lacking)


def may_manage(editor: Any, target: Any) -> bool:
    """Whether ``editor`` may change or delete the account ``target`` (see ``manageable_users``)."""
    if editor.is_active and editor.is_superuser:
        return True
    return not target.is_superuser and held_permissions(target) <= held_permissions(editor)


def scope_to_sites(queryset: QuerySet[Any], user: Any, site_field: str | None) -> QuerySet[Any]:
    """Restrict a queryset to the sites the user belongs to.

    Site scoping is opt-in per user: admins and users who are members of no site see every
    site; a user who is a member of one or more sites sees only objects of those sites (objects
    without a site stay visible to everyone in a role).
    """
    if site_field is None or role_of(user) == Role.ADMIN:
        return queryset
    site_ids = list(user.panoptes_sites.values_list("pk", flat=True))
    if not site_ids:
        return queryset
    from django.db.models import Q

    return queryset.filter(Q(**{f"{site_field}__in": site_ids}) | Q(**{f"{site_field}__isnull": True}))


PANOPTES_APPS = ("cameras", "zones", "algorithms", "detectors", "alarms", "configs")
# What each role may do in the admin panel, as Django model permissions (the API checks roles).
OPERATOR_EDITS = {("zones", "zone"), ("algorithms", "algorithmbinding"), ("alarms", "alarm")}
# Webhook endpoints and their deliveries are operator business (the API's read_role says the same).
OPERATOR_READS = {("alarms", "webhookendpoint"), ("alarms", "alarmdelivery")}


def sync_role_groups(using: str = "default") -> None:
    """Create the viewer/operator/admin groups and give them their admin-panel permissions.

    Idempotent; run after each migrate by controlplane.core.apps.
    """
    from django.contrib.auth.models import Group, Permission

    perms = Permission.objects.using(using).select_related("content_type")
    ours = [p for p in perms if p.content_type.app_label in PANOPTES_APPS]
    view_all = [p for p in ours if p.codename.startswith("view_")]
    view = [p for p in view_all if (p.content_type.app_label, p.content_type.model) not in OPERATOR_READS]
    operator = view_all + [
        p for p in ours if (p.content_type.app_label, p.content_type.model) in OPERATOR_EDITS and not p.codename.startswith("view_")
    ]
    # core: the admin's API token proxy (controlplane.core.models.ApiToken).
    admin = ours + [p for p in perms if p.content_type.app_label in ("auth", "authtoken", "core")]
    for role, granted in ((Role.VIEWER, view), (Role.OPERATOR, operator), (Role.ADMIN, admin)):
        group, _ = Group.objects.using(using).get_or_create(name=role.value)
        group.permissions.set(granted)
