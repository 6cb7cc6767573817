from __future__ import annotations

from typing import Any

from analytics.catalog import CATALOG


def sync_catalog(algorithm_model: Any) -> None:
    """Upsert the built-in algorithms (analytics.catalog) into the Algorithm table.

    Run by the 0002 data migration (with the historical model) and after every migrate (with the
    current one), so a catalog entry added in code appears without a hand-written migration and
    a flushed test database gets its catalog back.
    """
    for entry in CATALOG:
        algorithm_model.objects.update_or_create(slug=entry["slug"], defaults={k: v for k, v in entry.items() if k != "slug"})
