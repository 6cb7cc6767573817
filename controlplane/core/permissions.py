from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from controlplane.core.choices import Role
from controlplane.core.roles import has_role


class RolePermission(BasePermission):
    """Reading needs the view's ``read_role`` (viewer by default); anything else its ``write_role``.

    A view's custom actions may name their own role in ``action_roles``. Views without these
    attributes (DRF's own) need admin to write.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        action_role = getattr(view, "action_roles", {}).get(getattr(view, "action", None))
        if action_role is not None:
            needed = action_role
        elif request.method in SAFE_METHODS:
            needed = getattr(view, "read_role", Role.VIEWER)
        else:
            needed = getattr(view, "write_role", Role.ADMIN)
        return has_role(user, needed)
