"""Seed the algorithm catalog from analytics.catalog."""
from __future__ import annotations

from typing import Any

from django.db import migrations


def seed(apps: Any, schema_editor: Any) -> None:
    from controlplane.algorithms.catalog import sync_catalog

    sync_catalog(apps.get_model("algorithms", "Algorithm"))


class Migration(migrations.Migration):
    dependencies = [("algorithms", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
