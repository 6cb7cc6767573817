from __future__ import annotations

from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "controlplane.cameras"
    label = "cameras"

    def ready(self) -> None:
        from controlplane.cameras import signals  # noqa: F401 (connects the delete receivers)
