from __future__ import annotations

from django.apps import AppConfig


class DetectorsConfig(AppConfig):
    name = "controlplane.detectors"
    label = "detectors"
