from __future__ import annotations

from django.apps import AppConfig


class ConfigsConfig(AppConfig):
    name = "controlplane.configs"
    label = "configs"
    verbose_name = "Configuration revisions"

    def ready(self) -> None:
        from controlplane.configs import actions  # noqa: F401  (connects the change signals)
