"""Register the shared assets' YOLOX-Nano as the default detector when the assets folder is present."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations


def register(apps: Any, schema_editor: Any) -> None:
    from controlplane.detectors.actions import register_assets_model

    register_assets_model(apps.get_model("detectors", "DetectorModel"), settings.PANOPTES_ASSETS)


class Migration(migrations.Migration):
    dependencies = [("detectors", "0001_initial")]
    operations = [migrations.RunPython(register, migrations.RunPython.noop)]
