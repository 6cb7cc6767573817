from __future__ import annotations

from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "controlplane.alarms"
    label = "alarms"
