from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "controlplane.core"
    label = "core"

    def ready(self) -> None:
        from controlplane.core import checks  # noqa: F401  (registers the deploy checks)

        post_migrate.connect(_sync_roles, dispatch_uid="panoptes-sync-roles")


def _sync_roles(sender: Any, **kwargs: Any) -> None:
    # After every migrate (permissions only exist once post_migrate has made them).
    from controlplane.core.roles import sync_role_groups

    sync_role_groups(using=kwargs.get("using", "default"))
