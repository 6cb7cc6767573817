from __future__ import annotations

from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "controlplane.algorithms"
    label = "algorithms"
