from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """Roles are Django groups of these names (created by a data migration).

    viewer reads everything in scope; operator also acknowledges alarms and edits zones and
    bindings; admin does everything (superusers are admins).
    """

    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"

    @classmethod
    def rank(cls, role: Role | None) -> int:
        return {None: 0, cls.VIEWER: 1, cls.OPERATOR: 2, cls.ADMIN: 3}[role]
