from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlgorithmsConfig(AppConfig):
    name = "controlplane.algorithms"
    label = "algorithms"

    def ready(self) -> None:
        post_migrate.connect(_sync, sender=self, dispatch_uid="panoptes-sync-catalog")


def _sync(sender: Any, **kwargs: Any) -> None:
    from controlplane.algorithms.catalog import sync_catalog
    from controlplane.algorithms.models import Algorithm

    sync_catalog(Algorithm)
