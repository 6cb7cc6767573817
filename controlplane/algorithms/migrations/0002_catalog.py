"""Seed the algorithm catalog from analytics.catalog (a later catalog change adds a migration like this)."""
from __future__ import annotations

from typing import Any

from django.db import migrations


def sync_catalog(apps: Any, schema_editor: Any) -> None:
    from analytics.catalog import CATALOG

    Algorithm = apps.get_model("algorithms", "Algorithm")
    for entry in CATALOG:
        Algorithm.objects.update_or_create(slug=entry["slug"], defaults={k: v for k, v in entry.items() if k != "slug"})


class Migration(migrations.Migration):
    dependencies = [("algorithms", "0001_initial")]
    operations = [migrations.RunPython(sync_catalog, migrations.RunPython.noop)]
