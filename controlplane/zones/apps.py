from __future__ import annotations

from django.apps import AppConfig


class ZonesConfig(AppConfig):
    name = "controlplane.zones"
    label = "zones"
