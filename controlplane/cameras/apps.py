from __future__ import annotations

from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "controlplane.cameras"
    label = "cameras"
