from __future__ import annotations

from django.apps import AppConfig


class PanelConfig(AppConfig):
    name = "controlplane.panel"
    label = "panel"
    verbose_name = "Operator panel"
