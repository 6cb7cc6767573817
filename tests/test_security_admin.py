"""Admins who are not superusers cannot raise themselves, and API tokens are never shown again.

Issue 11, finding 9: a staff member of the admin group made itself superuser through the admin
user form and read every API token in the admin. Now only superusers grant or change superuser
status; nobody grants permissions or groups they do not hold, or manages an account that holds
more than they do (its password would be theirs); a token is shown once, when it is created.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

PASSWORD = "Panoptes-test-pw-1"


def staff(role: str | None) -> Any:
    """A logged-in admin-panel client: a staff member of ``role``'s group, or a superuser (None)."""
    from django.contrib.auth.models import Group, User

    name = f"{role or 'root'}-{uuid.uuid4().hex[:6]}"
    if role is None:
        user = User.objects.create_superuser(username=name, password=PASSWORD)
    else:
        user = User.objects.create_user(username=name, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def user_form(user: Any, **changes: Any) -> dict[str, Any]:
    """The POST body of the admin's user change form, as a browser sends it."""
    data: dict[str, Any] = {
        "username": user.username, "first_name": "", "last_name": "", "email": "",
        "is_active": "on", "is_staff": "on" if user.is_staff else None,
        "groups": [g.pk for g in user.groups.all()], "user_permissions": [p.pk for p in user.user_permissions.all()],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def change_url(user: Any) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


def test_an_admin_group_member_cannot_make_itself_or_anyone_superuser(live_db: Any) -> None:
    from django.contrib.auth.models import User

    admin = staff("admin")
    me = admin.user
    other = User.objects.create_user(username="olga", password=PASSWORD)

    page = admin.get(change_url(me)).content.decode()
    admin.post(change_url(me), user_form(me, is_superuser="on"))
    admin.post(change_url(other), user_form(other, is_superuser="on"))
    admin.post(reverse("admin:auth_user_add"), {"username": "mallory", "password1": "Long-enough-pw-9",
                                                "password2": "Long-enough-pw-9", "is_superuser": "on"})

    assert 'name="is_superuser"' not in page
    assert not User.objects.get(pk=me.pk).is_superuser
    assert not User.objects.get(pk=other.pk).is_superuser
    assert not User.objects.filter(username="mallory", is_superuser=True).exists()


def test_an_admin_group_member_cannot_grant_permissions_or_groups_it_does_not_hold(live_db: Any) -> None:
    from django.contrib.auth.models import Group, Permission, User

    admin = staff("admin")
    me = admin.user
    foreign = Permission.objects.get(codename="delete_session")  # not in the admin group
    powerful = Group.objects.create(name="powerful")
    powerful.permissions.add(foreign)

    admin.post(change_url(me), user_form(me, user_permissions=[foreign.pk]))
    admin.post(change_url(me), user_form(me, groups=[Group.objects.get(name="admin").pk, powerful.pk]))
    admin.post(reverse("admin:auth_group_change", args=[Group.objects.get(name="admin").pk]),
               {"name": "admin", "permissions": [p.pk for p in Group.objects.get(name="admin").permissions.all()]
                + [foreign.pk]})

    me = User.objects.get(pk=me.pk)
    assert not me.has_perm("sessions.delete_session")
    assert not me.groups.filter(name="powerful").exists()
    assert not Group.objects.get(name="admin").permissions.filter(pk=foreign.pk).exists()
    page = admin.get(change_url(me)).content.decode()
    assert f'value="{foreign.pk}"' not in page  # not even offered


def test_an_admin_group_member_cannot_take_over_a_superuser_or_a_stronger_account(live_db: Any) -> None:
    from django.contrib.auth.models import Permission, User

    admin = staff("admin")
    root = User.objects.create_superuser(username="root", password=PASSWORD)
    stronger = User.objects.create_user(username="auditor", password=PASSWORD, is_staff=True)
    stronger.user_permissions.add(Permission.objects.get(codename="delete_session"))
    new_password = {"password1": "Taken-over-pw-9", "password2": "Taken-over-pw-9"}

    for target in (root, stronger):
        assert admin.post(reverse("admin:auth_user_password_change", args=[target.pk]), new_password).status_code == 403
        assert admin.post(change_url(target), user_form(target, username="renamed")).status_code == 403
        assert admin.post(reverse("admin:auth_user_delete", args=[target.pk]), {"post": "yes"}).status_code == 403
        admin.post(reverse("admin:auth_user_changelist"),
                   {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"})
        target.refresh_from_db()  # still there (the bulk delete was refused too)
        assert target.check_password(PASSWORD) and target.username != "renamed"
    # An inactive superuser is no easier: reactivating it would hand over its powers.
    root.is_active = False
    root.save()
    assert admin.post(change_url(root), user_form(root, is_active="on")).status_code == 403
    # A superuser manages everyone.
    assert staff(None).post(reverse("admin:auth_user_password_change", args=[stronger.pk]),
                            new_password).status_code == 302


def test_through_the_api_an_admin_cannot_take_over_a_superuser(api: Any) -> None:
    from django.contrib.auth.models import User

    admin = api("admin")
    root = User.objects.create_superuser(username="root", password=PASSWORD)

    changed = admin.patch(f"/api/v1/users/{root.pk}/", {"password": "Taken-over-pw-9"}, format="json")
    demoted = admin.patch(f"/api/v1/users/{root.pk}/", {"role": "viewer", "is_active": False}, format="json")
    deleted = admin.delete(f"/api/v1/users/{root.pk}/")

    assert (changed.status_code, demoted.status_code, deleted.status_code) == (403, 403, 403)
    root.refresh_from_db()
    assert root.check_password(PASSWORD) and root.is_active and root.is_superuser
    assert "is_superuser" not in admin.get(f"/api/v1/users/{root.pk}/").json()
    escalated = admin.patch(f"/api/v1/users/{admin.user.pk}/", {"is_superuser": True}, format="json")
    assert escalated.status_code in (200, 400) and not User.objects.get(pk=admin.user.pk).is_superuser
    other = api("operator")
    assert admin.patch(f"/api/v1/users/{other.user.pk}/", {"role": "viewer"}, format="json").status_code == 200


@pytest.mark.parametrize("role", [None, "admin"])
def test_no_admin_page_shows_an_api_token_after_it_was_created(api: Any, role: str | None) -> None:
    from rest_framework.authtoken.models import Token

    holder = api("viewer")
    key = Token.objects.get(user=holder.user).key
    browser = staff(role)
    changelist = reverse("admin:core_apitoken_changelist")

    pages = [changelist, changelist + f"?q={holder.user.username}", changelist + f"?q={key[:8]}",
             reverse("admin:core_apitoken_change", args=[holder.user.pk]),
             reverse("admin:core_apitoken_delete", args=[holder.user.pk]),
             reverse("admin:core_apitoken_history", args=[holder.user.pk]), reverse("admin:index")]
    for page in pages:
        response = browser.get(page)
        assert response.status_code == 200, page
        assert key not in response.content.decode(), page
    assert key[:6] in browser.get(changelist).content.decode()  # a masked prefix tells tokens apart


def test_a_token_created_in_the_admin_is_shown_once(live_db: Any) -> None:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    root = staff(None)
    service = User.objects.create_user(username="nvr", password=PASSWORD)

    created = root.post(reverse("admin:core_apitoken_add"), {"user": service.pk})

    key = Token.objects.get(user=service).key
    assert created.status_code == 200 and key in created.content.decode()
    assert "will not be shown again" in created.content.decode()
    assert key not in root.get(reverse("admin:core_apitoken_changelist")).content.decode()
    assert key not in root.get(reverse("admin:index")).content.decode()  # not in "recent actions" either
    assert not re.search(key, str(root.cookies))


def test_an_admin_group_member_cannot_mint_or_move_a_token_to_a_superuser(live_db: Any) -> None:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    admin = staff("admin")
    root = User.objects.create_superuser(username="root", password=PASSWORD)
    mine = Token.objects.create(user=User.objects.create_user(username="pawn", password=PASSWORD))

    minted = admin.post(reverse("admin:core_apitoken_add"), {"user": root.pk})
    moved = admin.post(reverse("admin:core_apitoken_change", args=[mine.user_id]), {"user": root.pk})

    assert not Token.objects.filter(user=root).exists()
    assert minted.status_code == 200 and "user" in minted.context["adminform"].form.errors
    assert moved.status_code == 403
    pawn2 = User.objects.create_user(username="pawn2", password=PASSWORD)
    allowed = admin.post(reverse("admin:core_apitoken_add"), {"user": pawn2.pk})
    assert allowed.status_code == 200 and Token.objects.get(user=pawn2).key in allowed.content.decode()
